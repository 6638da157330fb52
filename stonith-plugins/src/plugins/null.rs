//! `null`: the do-nothing test device. Like the original it resets *any*
//! name, listed or not (cluster-glue quirk 12), because stonithd relies
//! on that for "last gasp" tests.

use crate::error::StonithError;
use crate::log::{log, Level};
use crate::plugin::{params_xml, required_hostlist, Action, InfoKind, Params, Plugin};

/// The `null` device.
#[derive(Debug, Default)]
pub struct Null {
    hosts: Option<Vec<String>>,
}

impl Null {
    /// Unconfigured device.
    pub fn new() -> Self {
        Self::default()
    }

    fn configured(&self) -> Result<&Vec<String>, StonithError> {
        self.hosts
            .as_ref()
            .ok_or_else(|| StonithError::NotConfigured {
                plugin: "null".into(),
            })
    }
}

impl Plugin for Null {
    fn type_name(&self) -> &str {
        "null"
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["hostlist".into()])
    }

    fn set_config(&mut self, params: &Params) -> Result<(), StonithError> {
        self.hosts = Some(required_hostlist("null", params)?);
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        Ok(match kind {
            InfoKind::DevId => Some("NULL STONITH device".into()),
            InfoKind::DevName | InfoKind::DevUrl => None,
            InfoKind::DevDescr => {
                Some("Dummy (do-nothing) STONITH device\nFOR TESTING ONLY!".into())
            }
            InfoKind::Xml => Some(params_xml(&[(
                "hostlist",
                true,
                "Hostlist",
                "The list of hosts that the STONITH device controls",
            )])),
        })
    }

    fn status(&self) -> Result<(), StonithError> {
        self.configured().map(|_| ())
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        self.configured().cloned()
    }

    fn reset(&self, _action: Action, host: &str) -> Result<(), StonithError> {
        self.configured()?;
        log(Level::Info, &format!("Host null-reset: {host}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::request;

    fn params(v: &str) -> Params {
        let mut p = Params::new();
        p.push("hostlist", v);
        p
    }

    #[test]
    fn config_errors_match_cluster_glue() {
        let mut n = Null::new();
        assert_eq!(n.set_config(&Params::new()).unwrap_err().rc(), 3);
        assert_eq!(n.set_config(&params("  ")).unwrap_err().rc(), 1);
        // Unconfigured operations fail with S_INVAL like the original.
        assert_eq!(n.status().unwrap_err().rc(), 3);
        assert_eq!(n.reset(Action::Reset, "a").unwrap_err().rc(), 3);
    }

    #[test]
    fn resets_any_host_and_lists_lowercase() {
        let mut n = Null::new();
        n.set_config(&params("NodeA nodeb")).unwrap();
        assert_eq!(n.hosts().unwrap(), vec!["nodea", "nodeb"]);
        n.status().unwrap();
        request(&n, Action::Reset, "Unlisted").unwrap();
        request(&n, Action::Off, "nodea").unwrap();
        request(&n, Action::On, "nodea").unwrap();
        assert_eq!(n.info(InfoKind::DevName).unwrap(), None);
        assert_eq!(
            n.info(InfoKind::DevId).unwrap().as_deref(),
            Some("NULL STONITH device")
        );
    }
}
