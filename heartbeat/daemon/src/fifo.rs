//! heartbeat's FIFO (`<state-dir>/fifo`): scripts (`hb_standby`, `hb_takeover`,
//! shellfuncs' `ha_clustermsg`) write classic messages framed by `>>>` and `<<<`
//! lines; heartbeat sends them as its own.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};
use hb_wire::Msg;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Longest message accepted from the FIFO (heartbeat's MAXMSG is 256 KiB).
const MAX_MSG: usize = 256 * 1024;

/// Creates the FIFO (mode 600, replacing anything else at that path) and starts a
/// task that sends each message read from it on `tx`.
pub fn open(path: &Path, tx: mpsc::Sender<Msg>) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => std::fs::remove_file(path)
            .with_context(|| format!("cannot replace {}", path.display()))?,
        Err(_) => {}
    }
    if !path.exists() {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .with_context(|| format!("cannot create FIFO {}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    // Opened read-write, so the FIFO never reports EOF when a writer closes it.
    let mut rx = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .with_context(|| format!("cannot open FIFO {}", path.display()))?;
    tokio::spawn(async move {
        let mut framer = Framer::default();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match rx.read(&mut buf).await {
                Ok(0) => continue,
                Ok(n) => n,
                Err(e) => {
                    tracing::error!("FIFO read failed: {}", e);
                    return;
                }
            };
            for msg in framer.push(&buf[..n]) {
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(())
}

/// Splits the byte stream into `>>>` ... `<<<` blocks and decodes them.
#[derive(Default)]
pub struct Framer {
    line: Vec<u8>,
    block: Option<Vec<u8>>,
}

impl Framer {
    /// Feeds bytes; returns every complete message. Garbage outside a block and
    /// undecodable blocks are logged and skipped.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Msg> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                if self.line.len() < MAX_MSG {
                    self.line.push(b);
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            match (&mut self.block, line.as_slice()) {
                (_, b">>>") => self.block = Some(b">>>\n".to_vec()),
                (Some(block), b"<<<") => {
                    block.extend_from_slice(b"<<<\n");
                    let block = std::mem::take(block);
                    self.block = None;
                    match hb_wire::classic::decode(&block) {
                        Ok(m) => out.push(m),
                        Err(e) => tracing::warn!("bad message in FIFO ignored: {}", e),
                    }
                }
                (Some(block), l) => {
                    if block.len() + l.len() < MAX_MSG {
                        block.extend_from_slice(l);
                        block.push(b'\n');
                    } else {
                        tracing::warn!("oversized FIFO message dropped");
                        self.block = None;
                    }
                }
                (None, l) if l.iter().all(u8::is_ascii_whitespace) => {}
                (None, l) => tracing::warn!(
                    "FIFO line outside a message ignored: {}",
                    String::from_utf8_lossy(l)
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere() {
        let text = b"junk\n>>>\nt=ask_resources\nrsc_hold=foreign\ninfo=me\n<<<\n>>>\nt=hb_takeover\nrsc_hold=all\n<<<\n";
        let mut f = Framer::default();
        let mut msgs = Vec::new();
        for chunk in text.chunks(5) {
            msgs.extend(f.push(chunk));
        }
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].msg_type(), Some("ask_resources"));
        assert_eq!(msgs[0].get_str("rsc_hold"), Some("foreign"));
        assert_eq!(msgs[0].get_str("info"), Some("me"));
        assert_eq!(msgs[1].msg_type(), Some("hb_takeover"));
        assert_eq!(msgs[1].get_str("rsc_hold"), Some("all"));
    }

    #[test]
    fn unterminated_block_yields_nothing() {
        let mut f = Framer::default();
        assert!(f.push(b">>>\nt=hb_takeover\n").is_empty());
    }
}
