//! `/etc/ha.d/haresources`: R1 resource groups.
//!
//! One group per logical line: `<preferred-node> <res1> <res2> ...`. A line
//! ending in `\` continues on the next one, `#` starts a comment, runs of
//! blanks are one separator and the node name is lower-cased (this is what
//! the `ResourceManager` script's sed/awk pipeline does). A resource is
//! `script[::arg1[::arg2...]]`; an item that looks like an IPv4 address means
//! `IPaddr::<item>`. The first resource of a group is its *key*, used by
//! `takegroup`/`givegroup` and `ip-request`; keys must be unique.
//!
//! Deviation: `ResourceManager` does not strip a comment from a continuation
//! line (the `#...` would become resources); we do.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::error::ConfigError;

/// One resource: a script and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Script name, looked up in `/etc/ha.d/resource.d` then `/etc/init.d`.
    pub script: String,
    /// Arguments passed before `start`/`stop`/`status`.
    pub args: Vec<String>,
    text: String,
}

impl Resource {
    /// Parses one haresources item (`IPaddr::10.0.0.1/24`, `10.0.0.1`, `httpd`).
    pub fn parse(item: &str) -> Self {
        let pieces = |s: &str| -> Vec<String> {
            // The shell splits the `::`-joined remainder into words, so empty
            // pieces (`a::::b`) disappear.
            s.split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        if looks_like_ipv4(item) {
            return Self {
                script: "IPaddr".to_string(),
                args: pieces(item),
                text: item.to_string(),
            };
        }
        match item.split_once("::") {
            Some((script, rest)) => Self {
                script: script.to_string(),
                args: pieces(rest),
                text: item.to_string(),
            },
            None => Self {
                script: item.to_string(),
                args: Vec::new(),
                text: item.to_string(),
            },
        }
    }

    /// The explicit `script::arg::...` form (`IPaddr::10.0.0.1` for a bare address).
    pub fn canonical(&self) -> String {
        let mut s = self.script.clone();
        for a in &self.args {
            s.push_str("::");
            s.push_str(a);
        }
        s
    }

    /// True when the item was a bare IPv4 address standing for `IPaddr::<item>`.
    pub fn is_implicit_ipaddr(&self) -> bool {
        self.script == "IPaddr" && !self.text.starts_with("IPaddr")
    }
}

/// Shows the resource exactly as written in haresources (the group-key form).
impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One resource group (one logical haresources line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Preferred node, lower-cased.
    pub node: String,
    /// Resources, started left to right and stopped right to left.
    pub resources: Vec<Resource>,
    /// Line where the group starts (1-based).
    pub line: usize,
}

impl ResourceGroup {
    /// The group key: the first resource as written ("" for a group without resources).
    pub fn key(&self) -> String {
        self.resources
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

/// The `ResourceManager` test `[0-9]*.[0-9]*.[0-9]*.[0-9]*` (a shell glob:
/// starts with a digit, then three `.digit` occurrences in order).
fn looks_like_ipv4(item: &str) -> bool {
    let b = item.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let mut pos = 1;
    for _ in 0..3 {
        // Leftmost match is enough: a subsequence test.
        match (pos..b.len().saturating_sub(1)).find(|&i| b[i] == b'.' && b[i + 1].is_ascii_digit())
        {
            Some(i) => pos = i + 2,
            None => return false,
        }
    }
    true
}

/// Reads and parses a haresources file.
pub fn load(path: &Path) -> Result<Vec<ResourceGroup>, ConfigError> {
    let text = std::fs::read(path).map_err(|e| ConfigError::io(path, e))?;
    parse(&String::from_utf8_lossy(&text), path)
}

/// Parses haresources text; `file` is used in error messages.
pub fn parse(text: &str, file: &Path) -> Result<Vec<ResourceGroup>, ConfigError> {
    let mut groups = Vec::new();
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut logical = String::new();
    let mut start_line = 0;

    let physical: Vec<&str> = text.lines().collect();
    for (idx, raw) in physical.iter().enumerate() {
        let mut line = match raw.find('#') {
            Some(p) => &raw[..p],
            None => raw,
        };
        line = line.trim_end_matches('\r');
        if logical.is_empty() {
            start_line = idx + 1;
        }
        if let Some(head) = line.strip_suffix('\\') {
            logical.push_str(head);
            if idx + 1 < physical.len() {
                continue;
            }
        } else {
            logical.push_str(line);
        }
        let words: Vec<&str> = logical.split_ascii_whitespace().collect();
        if let Some((node, items)) = words.split_first() {
            let group = ResourceGroup {
                node: node.to_ascii_lowercase(),
                resources: items.iter().map(|i| Resource::parse(i)).collect(),
                line: start_line,
            };
            let key = group.key();
            if !key.is_empty() {
                if let Some(first) = keys.insert(key.clone(), start_line) {
                    return Err(ConfigError::invalid(
                        file,
                        start_line,
                        format!(
                            "Duplicate resource group key [{key}] (first used at line {first})"
                        ),
                    ));
                }
            }
            groups.push(group);
        }
        logical.clear();
    }
    Ok(groups)
}

/// Checks that every group's node is a configured node (heartbeat's
/// `parse_ha_resources`: `Bad nodename in <file> [x]`). `nodes` must be lower-case.
pub fn validate_nodes<S: AsRef<str>>(
    groups: &[ResourceGroup],
    nodes: &[S],
    file: &Path,
) -> Result<(), ConfigError> {
    for g in groups {
        if !nodes.iter().any(|n| n.as_ref() == g.node) {
            return Err(ConfigError::invalid(
                file,
                g.line,
                format!("Bad nodename [{}]", g.node),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<ResourceGroup>, ConfigError> {
        parse(text, Path::new("/etc/ha.d/haresources"))
    }

    #[test]
    fn tutorial_forms() {
        let g = p("node1.hoo.com IPaddr::192.168.249.188/24/eth0 httpd\n").unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].node, "node1.hoo.com");
        assert_eq!(g[0].resources[0].script, "IPaddr");
        assert_eq!(g[0].resources[0].args, vec!["192.168.249.188/24/eth0"]);
        assert_eq!(g[0].resources[1].script, "httpd");
        assert!(g[0].resources[1].args.is_empty());
        assert_eq!(g[0].key(), "IPaddr::192.168.249.188/24/eth0");
        assert!(!g[0].resources[0].is_implicit_ipaddr());

        let g = p("node1.hoo.com 172.16.249.188 httpd\n").unwrap();
        let r = &g[0].resources[0];
        assert_eq!(r.script, "IPaddr");
        assert_eq!(r.args, vec!["172.16.249.188"]);
        assert!(r.is_implicit_ipaddr());
        assert_eq!(r.to_string(), "172.16.249.188");
        assert_eq!(r.canonical(), "IPaddr::172.16.249.188");
        assert_eq!(g[0].key(), "172.16.249.188");
    }

    #[test]
    fn multiple_args_case_continuation_and_comments() {
        let text = "# header\n\
                    ALPHA Dummy1::argA::argB \\\n\
                    \tDummy2   # trailing comment\n\
                    \n\
                    bravo\t10.0.0.170 Filesystem::/dev/sda1::/data1::ext2\n";
        let g = p(text).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].node, "alpha");
        assert_eq!(g[0].line, 2);
        assert_eq!(g[0].resources.len(), 2);
        assert_eq!(g[0].resources[0].args, vec!["argA", "argB"]);
        assert_eq!(g[0].resources[0].to_string(), "Dummy1::argA::argB");
        assert_eq!(g[0].resources[1].script, "Dummy2");
        assert_eq!(g[1].line, 5);
        assert_eq!(g[1].resources[1].script, "Filesystem");
        assert_eq!(g[1].resources[1].args, vec!["/dev/sda1", "/data1", "ext2"]);
    }

    #[test]
    fn backslash_join_is_literal_like_sed() {
        // `s/\\\n//` removes only the backslash-newline: no blank is inserted.
        let g = p("a res\\\nource\n").unwrap();
        assert_eq!(g[0].resources[0].script, "resource");
        // A trailing backslash on the last line does not lose the group.
        let g = p("a r1 \\").unwrap();
        assert_eq!(g[0].resources.len(), 1);
    }

    #[test]
    fn ipv4_glob() {
        assert!(looks_like_ipv4("135.9.8.7"));
        assert!(looks_like_ipv4("135.9.8.7/24/eth0/135.9.8.210"));
        assert!(!looks_like_ipv4("httpd"));
        assert!(!looks_like_ipv4("1.2.3"));
        assert!(!looks_like_ipv4("a1.2.3.4"));
        assert!(!looks_like_ipv4("1.2.3.x"));
        assert!(!looks_like_ipv4(""));
    }

    #[test]
    fn empty_arg_pieces_vanish_but_text_is_kept() {
        let r = Resource::parse("MailTo::::root");
        assert_eq!(r.script, "MailTo");
        assert_eq!(r.args, vec!["root"]);
        assert_eq!(r.to_string(), "MailTo::::root");
        assert_eq!(r.canonical(), "MailTo::root");
    }

    #[test]
    fn duplicate_keys_are_errors_with_line() {
        let e = p("a 10.0.0.1 httpd\n\nb 10.0.0.1\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.to_string()
                .contains("Duplicate resource group key [10.0.0.1]"),
            "{e}"
        );
        assert!(
            e.to_string().contains("/etc/ha.d/haresources line 3"),
            "{e}"
        );
    }

    #[test]
    fn node_validation() {
        let g = p("alpha r1\nCharlie r2\n").unwrap();
        let file = Path::new("/etc/ha.d/haresources");
        assert!(validate_nodes(&g[..1], &["alpha", "bravo"], file).is_ok());
        let e = validate_nodes(&g, &["alpha", "bravo"], file).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("Bad nodename [charlie]"), "{e}");
    }

    #[test]
    fn node_without_resources_is_kept() {
        let g = p("alpha\nbravo r\n").unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].key(), "");
    }
}
