//! `/etc/ha.d/authkeys`: the keys that sign every cluster packet.
//!
//! ```text
//! auth 1
//! 1 sha1 s3cr3tkey
//! 3 crc
//! ```
//! `auth N` picks the slot used for sending; it must come *before* the line
//! defining slot N, because heartbeat picks the active slot while scanning.
//! Every defined slot is accepted on receive.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::error::ConfigError;

/// Number of key slots (`MAXAUTH`).
pub const MAX_AUTH: usize = 16;

/// An authentication method name as written in authkeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethodName {
    /// CRC-32; takes no key.
    Crc,
    /// HMAC-MD5; needs a key.
    Md5,
    /// HMAC-SHA1; needs a key.
    Sha1,
}

impl AuthMethodName {
    /// Parses the name heartbeat's auth plugins register (case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "crc" => Some(Self::Crc),
            "md5" => Some(Self::Md5),
            "sha1" => Some(Self::Sha1),
            _ => None,
        }
    }

    /// The name as written in authkeys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc => "crc",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
        }
    }

    /// Whether the method needs a secret key.
    pub fn needs_key(self) -> bool {
        !matches!(self, Self::Crc)
    }
}

impl fmt::Display for AuthMethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parsed authkeys file.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKeys {
    /// The slot used to sign outgoing packets.
    pub active: u8,
    /// Every defined slot: method and key (`None` for crc).
    pub slots: BTreeMap<u8, (AuthMethodName, Option<String>)>,
}

// Keys are secrets: keep them out of logs that print configs with `{:?}`.
impl fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots: BTreeMap<u8, &str> = self
            .slots
            .iter()
            .map(|(k, (m, _))| (*k, m.name()))
            .collect();
        f.debug_struct("AuthKeys")
            .field("active", &self.active)
            .field("slots", &slots)
            .finish()
    }
}

impl AuthKeys {
    /// The method and key of the active slot.
    pub fn active_method(&self) -> Option<(AuthMethodName, Option<&str>)> {
        self.slots
            .get(&self.active)
            .map(|(m, k)| (*m, k.as_deref()))
    }
}

/// Reads and parses an authkeys file, refusing one readable by group or
/// other like heartbeat does (only the read bits are checked).
pub fn load(path: &Path) -> Result<AuthKeys, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| ConfigError::io(path, e))?;
    if meta.permissions().mode() & 0o044 != 0 {
        return Err(ConfigError::invalid(
            path,
            0,
            format!(
                "Bad permissions on keyfile [{}], 600 recommended.",
                path.display()
            ),
        ));
    }
    let text = std::fs::read(path).map_err(|e| ConfigError::io(path, e))?;
    parse(&String::from_utf8_lossy(&text), path)
}

/// Parses authkeys text; `file` is used in error messages.
pub fn parse(text: &str, file: &Path) -> Result<AuthKeys, ConfigError> {
    let mut authnum: Option<i64> = None;
    let mut active: Option<u8> = None;
    let mut slots = BTreeMap::new();

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim_start_matches([' ', '\t', '\r', '\x0c']);
        let line = line.trim_end_matches(['\r', '\n']);
        // Only whole-line comments exist here (unlike ha.cf).
        if line.is_empty() || line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with('a') {
            // heartbeat: sscanf(bp, "auth %d") on any line starting with 'a'.
            let n = line
                .strip_prefix("auth")
                .and_then(|rest| scan_int(rest.trim_start()).map(|(n, _)| n));
            match n {
                Some(n) => authnum = Some(n),
                None => {
                    return Err(ConfigError::invalid(
                        file,
                        lineno,
                        format!("Invalid auth line [{line}]"),
                    ))
                }
            }
            continue;
        }
        let Some((index, rest)) = scan_int(line) else {
            return Err(ConfigError::invalid(
                file,
                lineno,
                format!("Auth line [{line}] is invalid."),
            ));
        };
        let mut words = rest.split_ascii_whitespace();
        let Some(method) = words.next() else {
            return Err(ConfigError::invalid(
                file,
                lineno,
                format!("Auth line [{line}] is invalid."),
            ));
        };
        let key = words.next();
        let slot = match u8::try_from(index) {
            Ok(s) if usize::from(s) < MAX_AUTH => s,
            _ => {
                return Err(ConfigError::invalid(
                    file,
                    lineno,
                    format!("Invalid authnum [{index}] (must be 0..15)"),
                ))
            }
        };
        let Some(m) = AuthMethodName::from_name(method) else {
            return Err(ConfigError::invalid(
                file,
                lineno,
                format!("Invalid authtype [{method}] (crc, md5 or sha1)"),
            ));
        };
        match (m.needs_key(), key) {
            (false, Some(_)) => {
                return Err(ConfigError::invalid(
                    file,
                    lineno,
                    format!("Auth method [{method}] doesn't use a key"),
                ))
            }
            (true, None) => {
                return Err(ConfigError::invalid(
                    file,
                    lineno,
                    format!("Auth method [{method}] requires a key"),
                ))
            }
            _ => {}
        }
        slots.insert(slot, (m, key.map(str::to_string)));
        if authnum == Some(index) {
            active = Some(slot);
        }
    }

    match active {
        Some(active) => Ok(AuthKeys { active, slots }),
        None => {
            let msg = match authnum {
                None => "Missing auth directive in keyfile".to_string(),
                Some(n) => format!("Auth Key [{n}] not found in keyfile"),
            };
            Err(ConfigError::invalid(file, 0, msg))
        }
    }
}

/// `sscanf("%d")`: optional sign and digits; returns the value and the rest.
fn scan_int(s: &str) -> Option<(i64, &str)> {
    let s = s.trim_start_matches([' ', '\t', '\r', '\n', '\x0c']);
    let sign_len = usize::from(s.starts_with(['+', '-']));
    let digits = s[sign_len..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(s.len() - sign_len);
    if digits == 0 {
        return None;
    }
    let end = sign_len + digits;
    // Absurdly long numbers saturate; they are rejected as slots anyway.
    let n = s[..end].parse::<i64>().unwrap_or(if s.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    });
    Some((n, &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<AuthKeys, ConfigError> {
        parse(text, Path::new("/etc/ha.d/authkeys"))
    }

    #[test]
    fn reference_example() {
        let k = p("auth 1\n1 sha1 s3cr3tkey\n2 md5 s3cr3tkey\n3 crc\n").unwrap();
        assert_eq!(k.active, 1);
        assert_eq!(k.slots.len(), 3);
        assert_eq!(
            k.active_method(),
            Some((AuthMethodName::Sha1, Some("s3cr3tkey")))
        );
        assert_eq!(k.slots[&3], (AuthMethodName::Crc, None));
        assert_eq!(k.slots[&2].0, AuthMethodName::Md5);
    }

    #[test]
    fn key_is_first_word_and_comments_blank_lines_skipped() {
        let k = p("# c\n\n  auth 2\n\t2 md5 secret trailing words\n").unwrap();
        assert_eq!(k.slots[&2].1.as_deref(), Some("secret"));
        assert!(
            !format!("{k:?}").contains("secret"),
            "Debug must not leak keys"
        );
    }

    #[test]
    fn auth_must_precede_its_slot() {
        let e = p("1 sha1 k\nauth 1\n").unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.to_string().contains("Auth Key [1] not found"), "{e}");
    }

    #[test]
    fn missing_auth_directive() {
        let e = p("1 sha1 k\n").unwrap_err();
        assert!(e.to_string().contains("Missing auth directive"), "{e}");
        assert!(e.to_string().contains("/etc/ha.d/authkeys"));
    }

    #[test]
    fn line_errors_name_file_and_line() {
        let cases = [
            ("auth 1\n1 crc key\n", 2, "doesn't use a key"),
            ("auth 1\n1 sha1\n", 2, "requires a key"),
            ("auth 1\n1 blowfish k\n", 2, "Invalid authtype"),
            ("auth 1\n16 sha1 k\n", 2, "Invalid authnum"),
            ("auth 1\n-1 sha1 k\n", 2, "Invalid authnum"),
            ("auth x\n", 1, "Invalid auth line"),
            ("auth 1\nbogus\n", 2, "is invalid"),
            ("auth 1\nabc 1\n", 2, "Invalid auth line"),
            ("auth 1\n1\n", 2, "is invalid"),
            ("auth 1\nfoo bar\n", 2, "is invalid"),
            ("auth 1\n9x\n", 2, "Invalid authtype [x]"),
        ];
        for (text, line, msg) in cases {
            let e = p(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(msg), "{text:?}: {e}");
            assert!(
                e.to_string().contains(&format!("authkeys line {line}")),
                "{e}"
            );
        }
    }

    #[test]
    fn slot_zero_and_fifteen_and_redefinition() {
        let k = p("auth 0\n0 crc\n15 sha1 a\n15 sha1 b\n").unwrap();
        assert_eq!(k.active, 0);
        assert_eq!(k.slots[&15].1.as_deref(), Some("b"));
    }

    #[test]
    fn load_checks_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkeys");
        std::fs::write(&path, "auth 1\n1 crc\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            format!(
                "Bad permissions on keyfile [{}], 600 recommended.",
                path.display()
            )
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(load(&path).is_err());
        // Write/execute bits for others are not checked, only read bits.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o622)).unwrap();
        assert_eq!(load(&path).unwrap().active, 1);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load(&path).unwrap().active, 1);
        assert!(load(&dir.path().join("missing")).is_err());
    }
}
