//! Where heartbeat keeps things. Defaults are Debian heartbeat 3.0.6's; each can be
//! moved by a flag so tests can run several nodes on one machine without private mounts.

use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_DIR: &str = "/etc/ha.d";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/heartbeat";
pub const DEFAULT_RUN_DIR: &str = "/run/heartbeat";
pub const DEFAULT_PID_FILE: &str = "/run/heartbeat.pid";

#[derive(Clone, Debug)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub pid_file: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            config_dir: DEFAULT_CONFIG_DIR.into(),
            state_dir: DEFAULT_STATE_DIR.into(),
            run_dir: DEFAULT_RUN_DIR.into(),
            pid_file: DEFAULT_PID_FILE.into(),
        }
    }
}

impl Paths {
    pub fn ha_cf(&self) -> PathBuf {
        self.config_dir.join("ha.cf")
    }
    pub fn authkeys(&self) -> PathBuf {
        self.config_dir.join("authkeys")
    }
    pub fn haresources(&self) -> PathBuf {
        self.config_dir.join("haresources")
    }
    /// Our per-resource monitoring settings (optional; not read by heartbeat 3.0.6).
    pub fn monitors(&self) -> PathBuf {
        self.config_dir.join("monitors")
    }
    pub fn nodeinfo(&self) -> PathBuf {
        self.config_dir.join("nodeinfo")
    }
    /// The client API registration socket (`API_REGSOCK`).
    pub fn api_socket(&self) -> PathBuf {
        self.run_dir.join("register")
    }
    pub fn rsctmp(&self) -> PathBuf {
        self.run_dir.join("rsctmp")
    }
    pub fn fifo(&self) -> PathBuf {
        self.state_dir.join("fifo")
    }
}

/// The local node name: `--node`, else the first line of `nodeinfo`, else `uname -n`;
/// always lower-cased, as heartbeat compares names case-insensitively.
pub fn local_node_name(flag: Option<&str>, nodeinfo: &Path) -> anyhow::Result<String> {
    if let Some(n) = flag {
        return Ok(n.to_ascii_lowercase());
    }
    if let Ok(text) = std::fs::read_to_string(nodeinfo) {
        if let Some(first) = text.lines().next().map(str::trim).filter(|l| !l.is_empty()) {
            return Ok(first.to_ascii_lowercase());
        }
    }
    let uts = nix::sys::utsname::uname()?;
    Ok(uts.nodename().to_string_lossy().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_name_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let ni = dir.path().join("nodeinfo");
        assert_eq!(local_node_name(Some("Node1"), &ni).unwrap(), "node1");
        std::fs::write(&ni, "Alpha.Example\nignored\n").unwrap();
        assert_eq!(local_node_name(None, &ni).unwrap(), "alpha.example");
        std::fs::remove_file(&ni).unwrap();
        let uname = nix::sys::utsname::uname().unwrap();
        assert_eq!(
            local_node_name(None, &ni).unwrap(),
            uname.nodename().to_string_lossy().to_ascii_lowercase()
        );
    }
}
