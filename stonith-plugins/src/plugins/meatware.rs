//! `meatware`: a human power-cycles the node and confirms with
//! `meatclient -c <host>`. Same FIFO protocol as cluster-glue: FIFO
//! `<dir>/meatware.<host>` (mode 0600), message `meatware reply <host>`
//! in a 256-byte NUL-padded buffer.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;

use crate::error::StonithError;
use crate::log::{log, Level};
use crate::plugin::{params_xml, required_hostlist, Action, InfoKind, Params, Plugin};

/// Debian's `HA_VARRUNDIR`.
pub const DEFAULT_DIR: &str = "/run";
/// How long the original waits for the operator (alarm 600).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// Size of the confirmation buffer meatclient writes.
pub const REPLY_LEN: usize = 256;

/// FIFO directory: `STONITH_MEATWARE_DIR` if set, else `/run`. Shared
/// with meatclient so tests can use a private directory.
pub fn fifo_dir() -> PathBuf {
    std::env::var_os("STONITH_MEATWARE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Path of the FIFO for `host` (already lower-cased).
pub fn fifo_path(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("meatware.{host}"))
}

/// The text meatclient sends to confirm `host`.
pub fn reply_text(host: &str) -> String {
    format!("meatware reply {host}")
}

/// The `meatware` device.
#[derive(Debug)]
pub struct Meatware {
    hosts: Option<Vec<String>>,
    /// FIFO directory.
    pub dir: PathBuf,
    /// How long to wait for the operator.
    pub wait: Duration,
}

impl Meatware {
    /// Unconfigured device using [`fifo_dir`] and the 600 s wait.
    pub fn new() -> Self {
        Self {
            hosts: None,
            dir: fifo_dir(),
            wait: DEFAULT_WAIT,
        }
    }

    fn io_err(&self, context: String, e: nix::Error) -> StonithError {
        StonithError::Io {
            plugin: "meatware".into(),
            context,
            source: std::io::Error::from(e),
        }
    }

    fn wait_for_reply(&self, fifo: &Path, host: &str) -> Result<(), StonithError> {
        // O_RDWR keeps a writer open ourselves, so the FIFO never reports
        // EOF/HUP before meatclient writes, and the open never blocks.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .map_err(|e| StonithError::Io {
                plugin: "meatware".into(),
                context: format!("open {}", fifo.display()),
                source: e,
            })?;
        let deadline = Instant::now() + self.wait;
        let mut buf = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StonithError::ResetFailed {
                    plugin: "meatware".into(),
                    op: "reset".into(),
                    host: host.into(),
                    detail: format!("no operator confirmation within {}s", self.wait.as_secs()),
                });
            }
            let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
            let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(nix::Error::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(self.io_err("poll".into(), e)),
            }
            let mut chunk = [0u8; REPLY_LEN];
            match file.read(&mut chunk) {
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => {
                    return Err(StonithError::Io {
                        plugin: "meatware".into(),
                        context: format!("read {}", fifo.display()),
                        source: e,
                    })
                }
            }
            // The reply is complete at its first NUL or once 256 bytes
            // (meatclient's full buffer) have arrived.
            if buf.contains(&0) || buf.len() >= REPLY_LEN {
                break;
            }
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let got = String::from_utf8_lossy(&buf[..end]);
        if got.trim_end() == reply_text(host) {
            log(Level::Info, &format!("node Meatware-reset: {host}"));
            Ok(())
        } else {
            Err(StonithError::ResetFailed {
                plugin: "meatware".into(),
                op: "reset".into(),
                host: host.into(),
                detail: format!("unexpected reply '{}'", got.escape_debug()),
            })
        }
    }
}

impl Default for Meatware {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for Meatware {
    fn type_name(&self) -> &str {
        "meatware"
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["hostlist".into()])
    }

    fn set_config(&mut self, params: &Params) -> Result<(), StonithError> {
        self.hosts = Some(required_hostlist("meatware", params)?);
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        Ok(Some(match kind {
            InfoKind::DevId => "Meatware STONITH device".into(),
            InfoKind::DevName => "Meatware STONITH device".into(),
            InfoKind::DevDescr => "Human (meatware) intervention STONITH device.\nThis STONITH agent prompts a human to reset a machine.\nThe human tells it when the reset was completed.".into(),
            InfoKind::DevUrl => return Ok(None),
            InfoKind::Xml => params_xml(&[(
                "hostlist",
                true,
                "Hostlist",
                "The list of hosts that the STONITH device controls",
            )]),
        }))
    }

    fn status(&self) -> Result<(), StonithError> {
        self.hosts
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| StonithError::NotConfigured {
                plugin: "meatware".into(),
            })
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        self.status()?;
        Ok(self.hosts.clone().unwrap_or_default())
    }

    fn reset(&self, _action: Action, host: &str) -> Result<(), StonithError> {
        self.status()?;
        if host.is_empty() || host.contains('/') {
            return Err(StonithError::BadHost {
                plugin: "meatware".into(),
                host: host.into(),
            });
        }
        let fifo = fifo_path(&self.dir, host);
        // A stale FIFO from an earlier, interrupted request is replaced.
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|e| self.io_err(format!("mkfifo {}", fifo.display()), e))?;
        log(
            Level::Crit,
            &format!("OPERATOR INTERVENTION REQUIRED to reset {host}."),
        );
        log(
            Level::Crit,
            &format!("Run \"meatclient -c {host}\" AFTER power-cycling the machine."),
        );
        let res = self.wait_for_reply(&fifo, host);
        let _ = std::fs::remove_file(&fifo);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn device(dir: &Path, wait: Duration) -> Meatware {
        let mut m = Meatware::new();
        m.dir = dir.to_path_buf();
        m.wait = wait;
        let mut p = Params::new();
        p.push("hostlist", "n1");
        m.set_config(&p).unwrap();
        m
    }

    fn answer(dir: &Path, text: &'static [u8]) -> std::thread::JoinHandle<()> {
        let fifo = fifo_path(dir, "n1");
        std::thread::spawn(move || {
            while !fifo.exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let mut buf = [0u8; REPLY_LEN];
            buf[..text.len()].copy_from_slice(text);
            f.write_all(&buf).unwrap();
        })
    }

    #[test]
    fn wrong_reply_fails_and_right_one_succeeds() {
        let d = tempfile::tempdir().unwrap();
        let m = device(d.path(), Duration::from_secs(10));
        let t = answer(d.path(), b"meatware reply n2");
        assert_eq!(m.reset(Action::Reset, "n1").unwrap_err().rc(), 5);
        t.join().unwrap();
        let t = answer(d.path(), b"meatware reply n1");
        m.reset(Action::Reset, "n1").unwrap();
        t.join().unwrap();
    }

    #[test]
    fn no_operator_times_out() {
        let d = tempfile::tempdir().unwrap();
        let m = device(d.path(), Duration::from_millis(200));
        let e = m.reset(Action::Reset, "n1").unwrap_err();
        assert_eq!(e.rc(), 5);
        assert!(e.to_string().contains("no operator confirmation"), "{e}");
        assert!(!fifo_path(d.path(), "n1").exists());
    }
}
