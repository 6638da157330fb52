//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ra_runner::Roots;

/// A private set of agent directories under a temporary directory.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub roots: Roots,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        // World-readable, so that agents run as nobody can reach their files.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let roots = Roots {
            ocf_root: dir.path().join("ocf"),
            lsb_dir: dir.path().join("init.d"),
            heartbeat_dir: dir.path().join("resource.d"),
        };
        for d in [
            roots.ocf_ra_dir(),
            roots.lsb_dir.clone(),
            roots.heartbeat_dir.clone(),
        ] {
            fs::create_dir_all(&d).unwrap();
        }
        Sandbox { dir, roots }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ocf_agent(&self, provider: &str, name: &str, body: &str) -> PathBuf {
        let dir = self.roots.ocf_ra_dir().join(provider);
        fs::create_dir_all(&dir).unwrap();
        write_script(&dir.join(name), body)
    }

    pub fn lsb_script(&self, name: &str, body: &str) -> PathBuf {
        write_script(&self.roots.lsb_dir.join(name), body)
    }

    pub fn hb_script(&self, name: &str, body: &str) -> PathBuf {
        write_script(&self.roots.heartbeat_dir.join(name), body)
    }
}

pub fn write_script(path: &Path, body: &str) -> PathBuf {
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// Is a process with this pid still there (and not a zombie)?
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // state is the field after the ")" that closes the command name
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            state != Some('Z')
        }
        Err(_) => false,
    }
}

pub const DEBIAN_DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";
