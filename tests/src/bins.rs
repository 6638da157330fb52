//! Locating (and if needed building) our own binaries from inside a test or bench.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::cmd;
use crate::error::{BenchError, Result};

/// Debian's heartbeat daemon.
pub const DEBIAN_HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";
/// Debian's cl_status.
pub const DEBIAN_CL_STATUS: &str = "/usr/bin/cl_status";

/// The workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The cargo profile directory (`<target>/debug`, `<target>/release`, ...) the running
/// test or bench binary was built into. `CARGO_TARGET_DIR` is only a fallback: the
/// location of the running executable is what tells the profile apart.
pub fn profile_dir() -> Result<PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        if let Some(d) = &dir {
            if matches!(
                d.file_name().and_then(|n| n.to_str()),
                Some("deps" | "examples")
            ) {
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        if let Some(d) = dir {
            if d.join(".fingerprint").is_dir() {
                return Ok(d);
            }
        }
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let d = target.join(profile);
    if d.is_dir() {
        Ok(d)
    } else {
        Err(BenchError::Setup(format!(
            "cannot find the cargo profile directory (tried {})",
            d.display()
        )))
    }
}

/// Path of binary `name` in [`profile_dir`], whether or not it exists; never builds.
pub fn target_bin(name: &str) -> Result<PathBuf> {
    Ok(profile_dir()?.join(name))
}

static BUILD: OnceLock<Result<(), String>> = OnceLock::new();

/// Path of our binary `name` (`heartbeat`, `cl_status`) in the same profile as the
/// running test. Integration tests of this crate do not make cargo build another
/// package's binaries, so if it is missing or older than the sources under
/// `heartbeat/`, `cargo build -p heartbeat --bins` runs once per process.
pub fn our_bin(name: &str) -> Result<PathBuf> {
    let bin = target_bin(name)?;
    if is_fresh(&bin) {
        return Ok(bin);
    }
    let built = BUILD.get_or_init(build_ours);
    if let Err(e) = built {
        return Err(BenchError::Setup(e.clone()));
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(BenchError::Setup(format!(
            "{} missing after building package heartbeat",
            bin.display()
        )))
    }
}

fn is_fresh(bin: &Path) -> bool {
    let Ok(built) = fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let root = workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    for f in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(mtime(&root.join(f)));
    }
    newest = newest.max(newest_under(&root.join("heartbeat"), 0));
    built >= newest
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Newest modification time of the sources below `dir` (depth-limited, skipping
/// build output).
fn newest_under(dir: &Path, depth: u32) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    if depth > 12 {
        return newest;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return newest;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => newest = newest.max(newest_under(&p, depth + 1)),
            Ok(t) if t.is_file() => newest = newest.max(mtime(&p)),
            _ => {}
        }
    }
    newest
}

fn build_ours() -> Result<(), String> {
    let profile = profile_dir().map_err(|e| e.to_string())?;
    let profile_name = profile
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let target = profile
        .parent()
        .ok_or_else(|| format!("{} has no parent", profile.display()))?
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = workspace_root().join("Cargo.toml");
    let manifest = manifest.to_string_lossy().into_owned();
    let target = target.to_string_lossy().into_owned();
    let mut argv = vec![
        cargo.as_str(),
        "build",
        "--manifest-path",
        &manifest,
        "--target-dir",
        &target,
        "-p",
        "heartbeat",
        "--bins",
    ];
    // "debug" is the dev profile's directory name, not a profile name.
    if profile_name != "debug" {
        argv.extend(["--profile", &profile_name]);
    }
    eprintln!(
        "hb-tests: building our daemon: {}",
        cmd::display_argv(&argv)
    );
    let out = cmd::run(&argv, Duration::from_secs(1800)).map_err(|e| e.to_string())?;
    if out.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({:?}):\n{}",
            cmd::display_argv(&argv),
            out.code,
            out.stderr
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_dir_holds_this_test_binary() {
        let dir = profile_dir().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert!(
            exe.starts_with(&dir),
            "{} not under {}",
            exe.display(),
            dir.display()
        );
        assert!(dir.join(".fingerprint").is_dir());
        assert_eq!(target_bin("x").unwrap(), dir.join("x"));
    }

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let text = fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(text.contains("[workspace]"));
    }
}
