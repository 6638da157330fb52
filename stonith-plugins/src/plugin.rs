//! The plugin model: cluster-glue's `stonith2` interface as a Rust trait.

use crate::error::StonithError;

/// Ordered configuration parameters (name, value). Order matters because
/// cluster-glue keeps the order given, and names may repeat (last wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Empty parameter list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Append one `name=value` pair.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Value of `name` (last occurrence wins, as with NVpair lookups).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Iterate over the pairs in the given order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Legacy `-p`/`-F` syntax: values split on whitespace in `names`
    /// order, the last name taking the rest of the line verbatim.
    /// Returns `None` when there are fewer values than names.
    pub fn from_positional(names: &[String], line: &str) -> Option<Self> {
        let mut out = Params::new();
        let mut rest = line.trim_start();
        for (i, name) in names.iter().enumerate() {
            if rest.is_empty() {
                return None;
            }
            if i + 1 == names.len() {
                out.push(name.clone(), rest.trim_end_matches(['\n', '\r']));
                rest = "";
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                out.push(name.clone(), &rest[..end]);
                rest = rest[end..].trim_start();
            }
        }
        Some(out)
    }
}

/// `ST_GENERIC_RESET` / `ST_POWERON` / `ST_POWEROFF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Power-cycle the node (`ST_GENERIC_RESET`, 1).
    Reset,
    /// Power the node on (`ST_POWERON`, 2).
    On,
    /// Power the node off (`ST_POWEROFF`, 3).
    Off,
}

impl Action {
    /// Name as used on the CLI (`-T`) and in external sub-commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reset => "reset",
            Action::On => "on",
            Action::Off => "off",
        }
    }

    /// Parse a `-T` argument.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reset" => Some(Action::Reset),
            "on" => Some(Action::On),
            "off" => Some(Action::Off),
            _ => None,
        }
    }

    /// cluster-glue's numeric op code.
    pub fn code(self) -> i32 {
        match self {
            Action::Reset => 1,
            Action::On => 2,
            Action::Off => 3,
        }
    }
}

/// `get_info` selectors (`ST_CONF_XML` .. `ST_DEVICEURL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoKind {
    /// `ST_DEVICEID` (2): short device id.
    DevId,
    /// `ST_DEVICENAME` (3).
    DevName,
    /// `ST_DEVICEDESCR` (4): long description.
    DevDescr,
    /// `ST_DEVICEURL` (5).
    DevUrl,
    /// `ST_CONF_XML` (1): the `<parameters>` block.
    Xml,
}

impl InfoKind {
    /// Suffix used by external scripts (`getinfo-<suffix>`).
    pub fn external_op(self) -> &'static str {
        match self {
            InfoKind::DevId => "getinfo-devid",
            InfoKind::DevName => "getinfo-devname",
            InfoKind::DevDescr => "getinfo-devdescr",
            InfoKind::DevUrl => "getinfo-devurl",
            InfoKind::Xml => "getinfo-xml",
        }
    }
}

/// One STONITH device type, mirroring cluster-glue's `stonith2` plugin
/// operations. `status`, `hosts` and `reset` require a successful
/// [`Plugin::set_config`] first.
pub trait Plugin: Send {
    /// Type name, e.g. `null` or `external/ssh`.
    fn type_name(&self) -> &str;

    /// Required configuration parameter names, in `-p` order.
    fn config_names(&self) -> Result<Vec<String>, StonithError>;

    /// Configure the device; finishes construction.
    fn set_config(&mut self, params: &Params) -> Result<(), StonithError>;

    /// Device information. `Ok(None)` means the plugin has none (the
    /// original returns NULL, printed as `(nil)`).
    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError>;

    /// Is the device reachable?
    fn status(&self) -> Result<(), StonithError>;

    /// Hosts this device can fence (lower-cased).
    fn hosts(&self) -> Result<Vec<String>, StonithError>;

    /// Reset, power on or power off `host` (already lower-cased by the
    /// caller, see [`request`]).
    fn reset(&self, action: Action, host: &str) -> Result<(), StonithError>;
}

/// `stonith_req_reset`: lower-case the node name, then ask the plugin.
pub fn request(plugin: &dyn Plugin, action: Action, host: &str) -> Result<(), StonithError> {
    plugin.reset(action, &host.to_lowercase())
}

/// Split a `hostlist` value the way cluster-glue plugins do: on
/// whitespace and commas, lower-cased, empties dropped.
pub fn split_hostlist(list: &str) -> Vec<String> {
    list.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Required `hostlist` parameter, with null's semantics: missing →
/// `S_INVAL`, empty → `S_BADCONFIG`.
pub fn required_hostlist(plugin: &str, params: &Params) -> Result<Vec<String>, StonithError> {
    let raw = params
        .get("hostlist")
        .ok_or_else(|| StonithError::MissingParam {
            plugin: plugin.to_string(),
            param: "hostlist".into(),
        })?;
    let hosts = split_hostlist(raw);
    if hosts.is_empty() {
        return Err(StonithError::BadConfig {
            plugin: plugin.to_string(),
            reason: "empty hostlist".into(),
        });
    }
    Ok(hosts)
}

/// Escape text for XML meta-data. Apostrophes are left alone, as
/// cluster-glue leaves them (descriptions such as "system's" stay
/// byte-identical); double quotes are escaped for attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Build a `<parameters>` block from (name, required, shortdesc,
/// longdesc), laid out byte for byte as cluster-glue's C plugins do.
pub fn params_xml(params: &[(&str, bool, &str, &str)]) -> String {
    let mut x = String::from("<parameters>");
    for (name, required, short, long) in params {
        x.push_str(&format!(
            "<parameter name=\"{}\" unique=\"0\" required=\"{}\"><content type=\"string\" />\n<shortdesc lang=\"en\">\n{}</shortdesc>\n<longdesc lang=\"en\">\n{}</longdesc>\n</parameter>\n",
            xml_escape(name),
            u8::from(*required),
            xml_escape(short),
            xml_escape(long)
        ));
    }
    x.push_str("</parameters>");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_last_name_takes_rest() {
        let names = vec!["a".to_string(), "b".to_string()];
        let p = Params::from_positional(&names, "  x   y z  w\n").unwrap();
        assert_eq!(p.get("a"), Some("x"));
        assert_eq!(p.get("b"), Some("y z  w"));
        assert!(Params::from_positional(&names, "x").is_none());
    }

    #[test]
    fn hostlist_split_and_lowercase() {
        assert_eq!(split_hostlist("A, b  c,,D"), vec!["a", "b", "c", "d"]);
    }
}
