//! Files heartbeat keeps in its state directory (`/var/lib/heartbeat`): the generation
//! counter, the node UUID and the host cache. The formats are heartbeat 3.0.6's, so a
//! node moved from Debian heartbeat keeps its identity, its generation keeps growing
//! and (with autojoin) the nodes it knew come back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hb_core::{CachedNode, HostCache};

pub const GENERATION_FILE: &str = "hb_generation";
pub const UUID_FILE: &str = "hb_uuid";
pub const HOST_CACHE_FILE: &str = "hostcache";
pub const DEL_HOST_CACHE_FILE: &str = "delhostcache";

/// heartbeat's default node weight, for 2-column host cache lines.
const DEFAULT_WEIGHT: u32 = 100;

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

/// Reads `hostcache` and `delhostcache`; a missing file is an empty one. A malformed
/// line is logged with its file and line number and skipped: one bad line must not
/// cost the other nodes.
pub fn read_host_cache(state_dir: &Path) -> io::Result<HostCache> {
    let nodes = read_cache_file(&state_dir.join(HOST_CACHE_FILE))?;
    let deleted = read_cache_file(&state_dir.join(DEL_HOST_CACHE_FILE))?
        .into_iter()
        .map(|n| n.name)
        .collect();
    Ok(HostCache { nodes, deleted })
}

/// Writes `hostcache` and `delhostcache` (each via `.tmp` and a rename). Deleted nodes
/// are written with an all-zero UUID, as their UUID is not kept.
pub fn write_host_cache(state_dir: &Path, cache: &HostCache) -> io::Result<()> {
    let mut text = String::new();
    for n in &cache.nodes {
        text.push_str(&cache_line(&n.name, n.uuid.as_ref(), n.weight, &n.site));
    }
    write_atomically(&state_dir.join(HOST_CACHE_FILE), text.as_bytes(), 0o644)?;
    let mut text = String::new();
    for name in &cache.deleted {
        text.push_str(&cache_line(name, None, DEFAULT_WEIGHT, ""));
    }
    write_atomically(&state_dir.join(DEL_HOST_CACHE_FILE), text.as_bytes(), 0o644)
}

fn cache_line(name: &str, uuid: Option<&[u8; 16]>, weight: u32, site: &str) -> String {
    let uuid = hb_core::format_uuid(uuid.unwrap_or(&[0; 16]));
    format!("{name}\t{uuid}\t{weight}\t{site}\n")
}

fn read_cache_file(path: &Path) -> io::Result<Vec<CachedNode>> {
    let text = match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut nodes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_cache_line(line) {
            Ok(n) => nodes.push(n),
            Err(why) => tracing::warn!("{}: line {}: {}: line ignored", path.display(), i + 1, why),
        }
    }
    Ok(nodes)
}

/// `name\tuuid[\tweight\tsite]`; an all-zero UUID means unknown.
fn parse_cache_line(line: &str) -> Result<CachedNode, String> {
    let cols: Vec<&str> = line.split('\t').collect();
    if cols.len() != 2 && cols.len() != 4 {
        return Err(format!(
            "expected 2 or 4 tab-separated columns, found {}",
            cols.len()
        ));
    }
    let name = cols[0].trim().to_lowercase();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("bad node name {:?}", cols[0]));
    }
    let uuid = parse_uuid(cols[1].trim()).ok_or_else(|| format!("bad uuid {:?}", cols[1]))?;
    let (weight, site) = match cols.get(2..4) {
        Some([w, site]) => (
            w.trim().parse().map_err(|_| format!("bad weight {w:?}"))?,
            site.trim().to_string(),
        ),
        _ => (DEFAULT_WEIGHT, String::new()),
    };
    Ok(CachedNode {
        name,
        uuid: (uuid != [0; 16]).then_some(uuid),
        weight,
        site,
    })
}

/// The 8-4-4-4-12 hex form of [`hb_core::format_uuid`] (either case).
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lens != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    let mut uuid = [0u8; 16];
    for (i, b) in uuid.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(uuid)
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

    #[test]
    fn host_cache_round_trip_in_heartbeat_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut bravo = [0u8; 16];
        bravo[0] = 0xcb;
        bravo[15] = 0xbe;
        let cache = HostCache {
            nodes: vec![
                CachedNode {
                    name: "alpha".into(),
                    uuid: None,
                    weight: 100,
                    site: String::new(),
                },
                CachedNode {
                    name: "bravo".into(),
                    uuid: Some(bravo),
                    weight: 250,
                    site: "dc2".into(),
                },
            ],
            deleted: vec!["charlie".into()],
        };
        write_host_cache(dir.path(), &cache).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(HOST_CACHE_FILE)).unwrap(),
            "alpha\t00000000-0000-0000-0000-000000000000\t100\t\n\
             bravo\tcb000000-0000-0000-0000-0000000000be\t250\tdc2\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join(DEL_HOST_CACHE_FILE)).unwrap(),
            "charlie\t00000000-0000-0000-0000-000000000000\t100\t\n"
        );
        assert!(!dir.path().join("hostcache.tmp").exists());
        assert_eq!(read_host_cache(dir.path()).unwrap(), cache);
    }

    #[test]
    fn missing_host_cache_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_host_cache(dir.path()).unwrap(), HostCache::default());
    }

    #[test]
    fn host_cache_accepts_two_columns_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(HOST_CACHE_FILE),
            "Alpha\tA1A1A1A1-a1a1-a1a1-a1a1-a1a1a1a1a1a1\n\
             \n\
             bad line without tabs\n\
             bravo\tnot-a-uuid\t100\t\n\
             charlie\t00000000-0000-0000-0000-000000000000\theavy\tx\n\
             delta\t00000000-0000-0000-0000-000000000000\t100\n\
             echo\t00000000-0000-0000-0000-00000000000e\t5\tsite b\n",
        )
        .unwrap();
        fs::write(
            dir.path().join(DEL_HOST_CACHE_FILE),
            "zulu\t00000000-0000-0000-0000-000000000000\t100\t\n\tno name\n",
        )
        .unwrap();
        let cache = read_host_cache(dir.path()).unwrap();
        let mut echo = [0u8; 16];
        echo[15] = 0x0e;
        assert_eq!(
            cache.nodes,
            [
                CachedNode {
                    name: "alpha".into(),
                    uuid: Some([0xa1; 16]),
                    weight: 100,
                    site: String::new(),
                },
                CachedNode {
                    name: "echo".into(),
                    uuid: Some(echo),
                    weight: 5,
                    site: "site b".into(),
                },
            ]
        );
        assert_eq!(cache.deleted, ["zulu"]);
    }
}
