//! The one error type of this crate: every problem names the file and the line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem, located in a file.
///
/// `line` is 1-based; `0` means the problem concerns the file as a whole
/// (it cannot be opened, or a required directive is missing), in which case
/// the rendering omits the line number.
#[derive(Debug, thiserror::Error)]
#[error("{kind} in {}{}", .file.display(), LineSuffix(*.line))]
pub struct ConfigError {
    /// The file the problem was found in.
    pub file: PathBuf,
    /// 1-based line number, or 0 for the whole file.
    pub line: usize,
    /// What is wrong. Part of the message, not a `source`: error chains
    /// (`{:#}`) would print it, and an I/O cause, a second time.
    pub kind: ErrorKind,
}

struct LineSuffix(usize);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            Ok(())
        } else {
            write!(f, " line {}", self.0)
        }
    }
}

/// The kinds of configuration problems; messages follow heartbeat's wording
/// where heartbeat has one, so operators can search for them.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The file could not be opened or read.
    #[error("Cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// The first word of an ha.cf line is not a known directive.
    #[error("Illegal directive [{0}]")]
    IllegalDirective(String),
    /// A directive's value is not acceptable.
    #[error("Invalid {directive} value [{value}]: {reason}")]
    InvalidValue {
        /// The directive (or medium) name.
        directive: String,
        /// The offending value, as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Any other problem; the text is heartbeat's message where one exists.
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// Builds an error for `file` at `line` (0 = whole file).
    pub fn new(file: &Path, line: usize, kind: ErrorKind) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            kind,
        }
    }

    pub(crate) fn invalid(file: &Path, line: usize, msg: impl Into<String>) -> Self {
        Self::new(file, line, ErrorKind::Invalid(msg.into()))
    }

    pub(crate) fn value(
        file: &Path,
        line: usize,
        directive: &str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self::new(
            file,
            line,
            ErrorKind::InvalidValue {
                directive: directive.to_string(),
                value: value.to_string(),
                reason: reason.into(),
            },
        )
    }

    pub(crate) fn io(file: &Path, err: std::io::Error) -> Self {
        Self::new(file, 0, ErrorKind::Io(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_and_line() {
        let e = ConfigError::new(
            Path::new("/etc/ha.d/ha.cf"),
            7,
            ErrorKind::IllegalDirective("bogus".into()),
        );
        assert_eq!(
            e.to_string(),
            "Illegal directive [bogus] in /etc/ha.d/ha.cf line 7"
        );
    }

    #[test]
    fn whole_file_errors_omit_line() {
        let e = ConfigError::invalid(Path::new("/x/ha.cf"), 0, "No heartbeat media defined");
        assert_eq!(e.to_string(), "No heartbeat media defined in /x/ha.cf");
    }
}
