//! Plugin type registry: names as `stonith -L` lists them and a
//! constructor by type name.

use crate::error::StonithError;
use crate::exec::ExecPolicy;
use crate::plugin::Plugin;
use crate::plugins::{external, fence, libvirt, meatware, null, ssh, suicide};

/// Types implemented in this crate (not scripts or agents).
pub const BUILTIN: &[&str] = &["libvirt", "meatware", "null", "ssh", "suicide"];

/// All types, sorted as `stonith -L` prints them: built-ins, every usable
/// `external/<x>` script and every `fence/<x>` agent.
pub fn list_types() -> Vec<String> {
    let mut v: Vec<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    v.extend(
        external::list(&external::plugin_dir())
            .into_iter()
            .map(|n| format!("external/{n}")),
    );
    v.extend(
        fence::list(&fence::agent_dir())
            .into_iter()
            .map(|n| format!("fence/{n}")),
    );
    v.sort();
    v
}

/// Create an unconfigured plugin of type `type_name`; unknown names give
/// [`StonithError::UnknownType`] (`S_OOPS`, the CLI's exit 8).
pub fn create(type_name: &str, policy: ExecPolicy) -> Result<Box<dyn Plugin>, StonithError> {
    if let Some(sub) = type_name.strip_prefix("external/") {
        return Ok(Box::new(external::External::new(sub, policy)?));
    }
    if let Some(sub) = type_name.strip_prefix("fence/") {
        return Ok(Box::new(fence::Fence::new(sub, policy)?));
    }
    Ok(match type_name {
        "null" => Box::new(null::Null::new()),
        "ssh" => Box::new(ssh::Ssh::new(policy)),
        "meatware" => Box::new(meatware::Meatware::new()),
        "suicide" => Box::new(suicide::Suicide::new(policy)),
        "libvirt" => Box::new(libvirt::Libvirt::new(policy)),
        other => return Err(StonithError::UnknownType(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_type_is_oops() {
        let e = create("bogus", ExecPolicy::default()).err().unwrap();
        assert_eq!(e.rc(), 8);
        assert_eq!(e.to_string(), "Invalid device type: 'bogus'");
        assert!(create("external/../../bin/sh", ExecPolicy::default()).is_err());
    }

    #[test]
    fn builtins_listed_sorted() {
        let t = list_types();
        for b in BUILTIN {
            assert!(t.iter().any(|x| x == b), "{b} missing");
        }
        let mut s = t.clone();
        s.sort();
        assert_eq!(s, t);
    }
}
