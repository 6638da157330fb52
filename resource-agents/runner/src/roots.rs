//! Where agents live, and discovery as `lrmadmin -C/-P/-T` reported it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{AgentSpec, Class};

/// Default `OCF_ROOT`.
pub const DEFAULT_OCF_ROOT: &str = "/usr/lib/ocf";
/// Default LSB init script directory.
pub const DEFAULT_LSB_DIR: &str = "/etc/init.d";
/// Default heartbeat-class script directory (`HA_RESOURCEDIR`).
pub const DEFAULT_HEARTBEAT_DIR: &str = "/etc/ha.d/resource.d";

/// Agent directories; the defaults are Debian's, tests point them elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roots {
    /// `OCF_ROOT`; agents are in `<ocf_root>/resource.d/<provider>/<type>`.
    pub ocf_root: PathBuf,
    /// LSB init scripts.
    pub lsb_dir: PathBuf,
    /// Heartbeat-class scripts.
    pub heartbeat_dir: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            ocf_root: PathBuf::from(DEFAULT_OCF_ROOT),
            lsb_dir: PathBuf::from(DEFAULT_LSB_DIR),
            heartbeat_dir: PathBuf::from(DEFAULT_HEARTBEAT_DIR),
        }
    }
}

/// A directory could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {path}: {source}")]
pub struct DiscoveryError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The provider every non-OCF agent is reported under (lrmd hard-coded it).
pub const NON_OCF_PROVIDER: &str = "heartbeat";

impl Roots {
    /// `<ocf_root>/resource.d`.
    pub fn ocf_ra_dir(&self) -> PathBuf {
        self.ocf_root.join("resource.d")
    }

    /// The classes this runner supports (`lrmadmin -C`).
    pub fn classes(&self) -> Vec<Class> {
        Class::ALL.to_vec()
    }

    /// Providers (`lrmadmin -P <class> <type>`).
    ///
    /// OCF: provider directories (hidden ones skipped), restricted to those
    /// holding an executable `agent_type` when one is given. LSB and heartbeat
    /// classes always answer the single provider `heartbeat`, as lrmd did.
    pub fn providers(
        &self,
        class: Class,
        agent_type: Option<&str>,
    ) -> Result<Vec<String>, DiscoveryError> {
        match class {
            Class::Lsb | Class::Heartbeat => Ok(vec![NON_OCF_PROVIDER.to_string()]),
            Class::Ocf => {
                let base = self.ocf_ra_dir();
                let mut out = Vec::new();
                for name in visible_entries(&base)? {
                    let dir = base.join(&name);
                    if !dir.is_dir() {
                        continue;
                    }
                    match agent_type {
                        Some(t) if !is_executable_file(&dir.join(t)) => {}
                        _ => out.push(name),
                    }
                }
                Ok(out)
            }
        }
    }

    /// Agent types (`lrmadmin -T <class>`): executable regular files whose
    /// name does not start with `.`, sorted. For OCF without a provider the
    /// types of all providers are merged.
    pub fn types(
        &self,
        class: Class,
        provider: Option<&str>,
    ) -> Result<Vec<String>, DiscoveryError> {
        let mut out = match class {
            Class::Lsb => executables_in(&self.lsb_dir)?,
            Class::Heartbeat => executables_in(&self.heartbeat_dir)?,
            Class::Ocf => match provider {
                Some(p) => executables_in(&self.ocf_ra_dir().join(p))?,
                None => {
                    let mut all = Vec::new();
                    for p in self.providers(Class::Ocf, None)? {
                        all.extend(executables_in(&self.ocf_ra_dir().join(p))?);
                    }
                    all
                }
            },
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The file that is executed for `spec`.
    ///
    /// Absolute types are used as they are. A heartbeat-class script missing
    /// from the resource directory is looked up in the init directory, the
    /// order heartbeat's ResourceManager searched.
    pub fn agent_path(&self, spec: &AgentSpec) -> PathBuf {
        let t = &spec.agent_type;
        if t.starts_with('/') {
            return PathBuf::from(t);
        }
        match spec.class {
            Class::Ocf => self
                .ocf_ra_dir()
                .join(spec.provider.as_deref().unwrap_or_default())
                .join(t),
            Class::Lsb => self.lsb_dir.join(t),
            Class::Heartbeat => {
                let primary = self.heartbeat_dir.join(t);
                let fallback = self.lsb_dir.join(t);
                if !primary.exists() && fallback.is_file() {
                    fallback
                } else {
                    primary
                }
            }
        }
    }
}

/// Names in `dir` not starting with `.`, sorted; a missing directory is empty.
fn visible_entries(dir: &Path) -> Result<Vec<String>, DiscoveryError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(DiscoveryError {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| DiscoveryError {
            path: dir.to_path_buf(),
            source: e,
        })?;
        // Non-UTF-8 names cannot be named in an agent spec anyway.
        if let Some(name) = entry.file_name().to_str() {
            if !name.starts_with('.') {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn executables_in(dir: &Path) -> Result<Vec<String>, DiscoveryError> {
    Ok(visible_entries(dir)?
        .into_iter()
        .filter(|n| is_executable_file(&dir.join(n)))
        .collect())
}

/// Regular file (after symlinks) with any execute bit, lrmd's "runnable" test.
pub(crate) fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
