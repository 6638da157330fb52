//! Devices configured in ha.cf: `stonith_host <host|*> <type> <params…>` (values in the
//! type's config-name order) and `stonith <type> <file>` (the values are in the file).
//! heartbeat 3.0.6 reads the same lines in R1 mode, so a Debian ha.cf keeps working.

use std::path::{Path, PathBuf};

use hb_config::hacf::HaCf;

/// One device line that applies to this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDevice {
    /// ha.cf line number.
    pub line: usize,
    /// Device id (`ha.cf:<line>`), also its `source`.
    pub id: String,
    pub type_name: String,
    /// The positional values, or why they could not be read.
    pub values: Result<String, String>,
}

/// The `stonith` and `stonith_host` lines for `local_node`, in file order.
/// `stonith_host` lines for other hosts are skipped, as heartbeat does.
pub fn hacf_devices(cf: &HaCf, config_dir: &Path, local_node: &str) -> Vec<ConfigDevice> {
    let mut out: Vec<ConfigDevice> = Vec::new();
    for s in &cf.stonith_hosts {
        if s.applies_to(local_node) {
            out.push(ConfigDevice {
                line: s.line,
                id: format!("ha.cf:{}", s.line),
                type_name: s.kind.clone(),
                values: Ok(s.params.clone()),
            });
        }
    }
    for s in &cf.stonith {
        let file = PathBuf::from(&s.config_file);
        let file = if file.is_absolute() {
            file
        } else {
            config_dir.join(file)
        };
        out.push(ConfigDevice {
            line: s.line,
            id: format!("ha.cf:{}", s.line),
            type_name: s.kind.clone(),
            values: read_values(&file),
        });
    }
    out.sort_by_key(|d| d.line);
    out
}

/// cluster-glue's `-F` rule: the first line that is neither blank nor a `#` comment.
pub fn read_values(file: &Path) -> Result<String, String> {
    if file.as_os_str().is_empty() {
        return Err("no configuration file given".into());
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applicable_lines_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("st.conf"),
            "# comment\n\n  nodea nodeb \nignored\n",
        )
        .unwrap();
        let text = "bcast lo\nnode me peer\n\
                    stonith_host peer external/ssh peer\n\
                    stonith null st.conf\n\
                    stonith_host * null me peer\n\
                    stonith_host ME meatware peer\n\
                    stonith null /nonexistent/file\n";
        let cf = hb_config::hacf::parse(text, Path::new("ha.cf")).unwrap();
        let d = hacf_devices(&cf, dir.path(), "me");
        let got: Vec<(usize, &str, Result<&str, ()>)> = d
            .iter()
            .map(|d| {
                (
                    d.line,
                    d.type_name.as_str(),
                    d.values.as_deref().map_err(|_| ()),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (4, "null", Ok("nodea nodeb")),
                (5, "null", Ok("me peer")),
                (6, "meatware", Ok("peer")),
                (7, "null", Err(())),
            ]
        );
        assert_eq!(d[0].id, "ha.cf:4");
        assert!(d[3]
            .values
            .as_ref()
            .unwrap_err()
            .contains("/nonexistent/file"));
    }
}
