//! Agent identity: `class[:provider]:type`, as lrmd, crmd and haresources name agents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The resource-agent classes the runner knows how to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// OCF 1.0/1.1 agents under `$OCF_ROOT/resource.d/<provider>/<type>`.
    Ocf,
    /// LSB init scripts in `/etc/init.d`.
    Lsb,
    /// Heartbeat v1 (haresources) scripts in `/etc/ha.d/resource.d`, positional args.
    Heartbeat,
}

impl Class {
    /// Every class, in the order `lrmadmin -C` printed them on Debian.
    pub const ALL: [Class; 3] = [Class::Heartbeat, Class::Ocf, Class::Lsb];

    /// The class name as written in agent specs (`ocf`, `lsb`, `heartbeat`).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Ocf => "ocf",
            Class::Lsb => "lsb",
            Class::Heartbeat => "heartbeat",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        // Class names are matched case-insensitively, like crm's standard names.
        match s.to_ascii_lowercase().as_str() {
            "ocf" => Ok(Class::Ocf),
            "lsb" => Ok(Class::Lsb),
            "heartbeat" => Ok(Class::Heartbeat),
            _ => Err(SpecError::UnknownClass(s.to_string())),
        }
    }
}

/// Why an agent spec string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown resource agent class {0:?} (expected ocf, lsb or heartbeat)")]
    UnknownClass(String),
    #[error("agent spec {0:?}: ocf agents need a provider (ocf:<provider>:<type>)")]
    MissingProvider(String),
    #[error("agent spec {0:?}: only ocf agents have a provider")]
    UnexpectedProvider(String),
    #[error("agent spec {0:?}: empty type")]
    EmptyType(String),
    #[error("agent spec {0:?}: expected class:type or ocf:provider:type")]
    Malformed(String),
    #[error(
        "agent spec {spec:?}: {what} {value:?} must not contain '/' (only absolute paths may)"
    )]
    BadName {
        spec: String,
        what: &'static str,
        value: String,
    },
}

/// A resource agent: class, provider (OCF only) and type.
///
/// The type may be an absolute path, as cluster-glue's lrmd allowed; any other
/// name containing `/` is refused so that a type cannot escape its directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AgentSpec {
    pub class: Class,
    pub provider: Option<String>,
    pub agent_type: String,
}

impl AgentSpec {
    /// Builds and checks a spec (same rules as parsing).
    pub fn new(
        class: Class,
        provider: Option<&str>,
        agent_type: &str,
    ) -> Result<AgentSpec, SpecError> {
        let spec = AgentSpec {
            class,
            provider: provider.map(str::to_string),
            agent_type: agent_type.to_string(),
        };
        spec.check(&spec.to_string())?;
        Ok(spec)
    }

    /// `ocf:<provider>:<type>`.
    pub fn ocf(provider: &str, agent_type: &str) -> Result<AgentSpec, SpecError> {
        AgentSpec::new(Class::Ocf, Some(provider), agent_type)
    }

    /// `lsb:<type>`.
    pub fn lsb(agent_type: &str) -> Result<AgentSpec, SpecError> {
        AgentSpec::new(Class::Lsb, None, agent_type)
    }

    /// `heartbeat:<type>`.
    pub fn heartbeat(agent_type: &str) -> Result<AgentSpec, SpecError> {
        AgentSpec::new(Class::Heartbeat, None, agent_type)
    }

    fn check(&self, text: &str) -> Result<(), SpecError> {
        if self.agent_type.is_empty() {
            return Err(SpecError::EmptyType(text.to_string()));
        }
        if self.agent_type.contains('/') && !self.agent_type.starts_with('/') {
            return Err(SpecError::BadName {
                spec: text.to_string(),
                what: "type",
                value: self.agent_type.clone(),
            });
        }
        match (self.class, &self.provider) {
            (Class::Ocf, None) => return Err(SpecError::MissingProvider(text.to_string())),
            (Class::Ocf, Some(p)) if p.is_empty() || p.contains('/') => {
                return Err(SpecError::BadName {
                    spec: text.to_string(),
                    what: "provider",
                    value: p.clone(),
                })
            }
            (Class::Lsb | Class::Heartbeat, Some(_)) => {
                return Err(SpecError::UnexpectedProvider(text.to_string()))
            }
            _ => {}
        }
        Ok(())
    }
}

impl FromStr for AgentSpec {
    type Err = SpecError;

    /// Parses `ocf:heartbeat:Dummy`, `lsb:httpd`, `heartbeat:IPaddr`.
    ///
    /// An absolute path type keeps its own colons out of the split: only the
    /// first one (two for ocf) separate fields.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let (class, rest) = s
            .split_once(':')
            .ok_or_else(|| SpecError::Malformed(s.to_string()))?;
        let class: Class = class.parse()?;
        let spec = match class {
            Class::Ocf => {
                let (provider, agent_type) = rest
                    .split_once(':')
                    .ok_or_else(|| SpecError::MissingProvider(s.to_string()))?;
                AgentSpec {
                    class,
                    provider: Some(provider.to_string()),
                    agent_type: agent_type.to_string(),
                }
            }
            Class::Lsb | Class::Heartbeat => AgentSpec {
                class,
                provider: None,
                agent_type: rest.to_string(),
            },
        };
        spec.check(s)?;
        Ok(spec)
    }
}

impl fmt::Display for AgentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{}:{}:{}", self.class, p, self.agent_type),
            None => write!(f, "{}:{}", self.class, self.agent_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_classes_and_round_trips() {
        for text in ["ocf:heartbeat:Dummy", "lsb:httpd", "heartbeat:IPaddr"] {
            let spec: AgentSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        let d: AgentSpec = "ocf:heartbeat:Dummy".parse().unwrap();
        assert_eq!(d.class, Class::Ocf);
        assert_eq!(d.provider.as_deref(), Some("heartbeat"));
        assert_eq!(d.agent_type, "Dummy");
        let h: AgentSpec = "heartbeat:IPaddr".parse().unwrap();
        assert_eq!(h.class, Class::Heartbeat);
        assert_eq!(h.provider, None);
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(matches!(
            "ocf:Dummy".parse::<AgentSpec>(),
            Err(SpecError::MissingProvider(_))
        ));
        // Only the first colon separates an lsb spec; the rest is the type.
        assert_eq!("lsb:a:b".parse::<AgentSpec>().unwrap().agent_type, "a:b");
        assert!(matches!(
            "foo:bar".parse::<AgentSpec>(),
            Err(SpecError::UnknownClass(_))
        ));
        assert!(matches!(
            "Dummy".parse::<AgentSpec>(),
            Err(SpecError::Malformed(_))
        ));
        assert!(matches!(
            "lsb:".parse::<AgentSpec>(),
            Err(SpecError::EmptyType(_))
        ));
        assert!(matches!(
            "ocf:heartbeat:../../bin/sh".parse::<AgentSpec>(),
            Err(SpecError::BadName { .. })
        ));
        assert!(matches!(
            "ocf:../x:Dummy".parse::<AgentSpec>(),
            Err(SpecError::BadName { .. })
        ));
        // Absolute paths are allowed, as lrmd allowed them.
        let abs: AgentSpec = "lsb:/tmp/x/script".parse().unwrap();
        assert_eq!(abs.agent_type, "/tmp/x/script");
    }
}
