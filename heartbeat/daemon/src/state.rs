//! Files heartbeat keeps in its state directory (`/var/lib/heartbeat`): the generation
//! counter and the node UUID. Both formats are heartbeat 3.0.6's, so a node moved from
//! Debian heartbeat keeps its identity and its generation keeps growing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub const GENERATION_FILE: &str = "hb_generation";
pub const UUID_FILE: &str = "hb_uuid";

/// How the generation number is obtained (`hbgenmethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenMethod {
    File,
    Time,
}

/// Reads the previous generation, increments it and persists the new one.
///
/// The file holds the number right-aligned in 15 columns plus `\n` (16 bytes). It is
/// written to a temporary file, fsynced, and renamed over the old one, so a crash in the
/// middle leaves either the old or the new value, never a torn one: a torn file would
/// make peers treat every later start as a replay attack.
pub fn next_generation(state_dir: &Path, method: GenMethod, now_unix: u64) -> Result<u64> {
    if method == GenMethod::Time {
        return Ok(now_unix);
    }
    let path = state_dir.join(GENERATION_FILE);
    let previous = match read_generation(&path) {
        Ok(g) => g,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::info!("No Previous generation - starting at {}", now_unix);
            now_unix
        }
        Err(e) => {
            tracing::warn!(
                "Cannot read generation file {}: {} - starting at {}",
                path.display(),
                e,
                now_unix
            );
            now_unix
        }
    };
    let next = previous + 1;
    write_atomically(&path, format!("{:>15}\n", next).as_bytes(), 0o644)
        .with_context(|| format!("cannot write generation file {}", path.display()))?;
    Ok(next)
}

fn read_generation(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim().parse::<u64>().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a generation number: {e}", path.display()),
        )
    })
}

/// Returns this node's UUID, creating `hb_uuid` (16 raw bytes, random v4) on first start.
pub fn node_uuid(state_dir: &Path) -> Result<[u8; 16]> {
    let path = state_dir.join(UUID_FILE);
    match File::open(&path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if buf.len() != 16 {
                bail!(
                    "{}: expected 16 raw UUID bytes, found {}",
                    path.display(),
                    buf.len()
                );
            }
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&buf);
            Ok(uuid)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let uuid = random_uuid_v4();
            write_atomically(&path, &uuid, 0o644)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(uuid)
        }
        Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
    }
}

fn random_uuid_v4() -> [u8; 16] {
    let mut uuid: [u8; 16] = rand::random();
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// Writes `data` to `path` through a synced temporary file and a rename.
pub fn write_atomically(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp_path(path);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_starts_from_time_then_increments_in_heartbeat_format() {
        let dir = tempfile::tempdir().unwrap();
        let g1 = next_generation(dir.path(), GenMethod::File, 1795686727).unwrap();
        assert_eq!(g1, 1795686728);
        let raw = fs::read(dir.path().join(GENERATION_FILE)).unwrap();
        assert_eq!(raw, b"     1795686728\n");
        let g2 = next_generation(dir.path(), GenMethod::File, 5).unwrap();
        assert_eq!(
            g2, 1795686729,
            "the clock must not move the generation back"
        );
    }

    #[test]
    fn garbage_generation_file_restarts_from_time() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(GENERATION_FILE), "garbage").unwrap();
        assert_eq!(
            next_generation(dir.path(), GenMethod::File, 100).unwrap(),
            101
        );
    }

    #[test]
    fn uuid_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = node_uuid(dir.path()).unwrap();
        let b = node_uuid(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[6] >> 4, 4, "version 4");
        fs::write(dir.path().join(UUID_FILE), [1u8; 3]).unwrap();
        let err = node_uuid(dir.path()).unwrap_err().to_string();
        assert!(err.contains("expected 16 raw UUID bytes"), "{err}");
    }
}
