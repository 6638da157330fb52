//! The two compression plugins of heartbeat (`/usr/lib/heartbeat/plugins/compress/`).

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::{Msg, Value, WireError};

/// Largest decompressed payload heartbeat accepts (`MAXUNCOMPRESSED`).
pub const MAX_UNCOMPRESSED: usize = 2 * 1024 * 1024;

/// A compression plugin, by its `compression` directive name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// zlib `compress()`: RFC 1950 stream at the default level (heartbeat's default).
    #[default]
    Zlib,
    /// `BZ2_bzBuffToBuffCompress(blockSize100k=1, verbosity=0, workFactor=30)`.
    Bz2,
}

impl Compression {
    /// The plugin name as it appears in ha.cf and in `_compression_algorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Bz2 => "bz2",
        }
    }

    /// Looks up a plugin by the name carried in `_compression_algorithm`.
    pub fn from_name(name: &[u8]) -> Option<Compression> {
        match name {
            b"zlib" => Some(Compression::Zlib),
            b"bz2" => Some(Compression::Bz2),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Compression, WireError> {
        Compression::from_name(s.as_bytes()).ok_or_else(|| WireError::UnknownCompression {
            name: s.to_string(),
        })
    }
}

fn comp_err(alg: Compression, op: &'static str, e: impl fmt::Display) -> WireError {
    WireError::Compression {
        alg: alg.name(),
        op,
        reason: e.to_string(),
    }
}

/// Compresses `data` exactly as the heartbeat plugin of that name does.
pub fn compress(alg: Compression, data: &[u8]) -> Result<Vec<u8>, WireError> {
    match alg {
        Compression::Zlib => {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 2 + 64),
                flate2::Compression::default(),
            );
            enc.write_all(data)
                .map_err(|e| comp_err(alg, "compression", e))?;
            enc.finish().map_err(|e| comp_err(alg, "compression", e))
        }
        Compression::Bz2 => {
            // bzip2's write encoder uses workFactor 30, the value the C plugin passes.
            let mut enc = bzip2::write::BzEncoder::new(
                Vec::with_capacity(data.len() / 2 + 64),
                bzip2::Compression::new(1),
            );
            enc.write_all(data)
                .map_err(|e| comp_err(alg, "compression", e))?;
            enc.finish().map_err(|e| comp_err(alg, "compression", e))
        }
    }
}

/// Decompresses `data`, refusing (without buffering it) any output beyond `max` bytes.
///
/// Use [`MAX_UNCOMPRESSED`] for `max` to match heartbeat. A truncated or corrupt stream
/// is an error; bytes after the end of a complete stream are ignored, as zlib's
/// `uncompress()` and bzip2's buffer API do.
pub fn decompress(alg: Compression, data: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max).min(1 << 16));
    let res = match alg {
        Compression::Zlib => flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out),
        Compression::Bz2 => bzip2::read::BzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out),
    };
    res.map_err(|e| comp_err(alg, "decompression", e))?;
    if out.len() > max {
        return Err(WireError::TooBig {
            // Reading stops one byte past the limit, so `size` is a lower bound.
            what: "decompressed payload (at least)",
            size: out.len(),
            max,
        });
    }
    if out.is_empty() && !data.is_empty() {
        // An empty result from non-empty input means the stream never started
        // (flate2/bzip2 report some malformed headers as a clean EOF).
        return Err(comp_err(alg, "decompression", "no data in stream"));
    }
    Ok(out)
}

/// Reads a struct field that may have travelled compressed (T=4, §2.8 "field
/// compression"): a `Compressed` value is decompressed with the plugin named by the
/// message's `_compression_algorithm` field and decoded (either format); a `Struct` or
/// `Uncompressed` value is returned as is. `Ok(None)` if there is no such struct field.
pub fn expand_field(msg: &Msg, name: &str) -> Result<Option<Msg>, WireError> {
    match msg.get(name) {
        Some(Value::Struct(m)) | Some(Value::Uncompressed(m)) => Ok(Some(m.clone())),
        Some(Value::Compressed(data)) => {
            let alg_name = msg
                .get_bytes(crate::netstring::COMPRESSION_ALGORITHM_FIELD)
                .unwrap_or_default();
            let alg =
                Compression::from_name(alg_name).ok_or_else(|| WireError::UnknownCompression {
                    name: String::from_utf8_lossy(alg_name).into_owned(),
                })?;
            let raw = decompress(alg, data, MAX_UNCOMPRESSED)?;
            crate::decode_any(&raw).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_field_reads_compressed_structs() {
        let mut child = Msg::new();
        child.add_str("cib", "<cib/>");
        let mut m = Msg::with_type("cib_op");
        m.add("data", Value::Uncompressed(child.clone()));
        let wire = crate::netstring::decode(&crate::netstring::encode(&m).unwrap()).unwrap();
        assert!(matches!(wire.get("data"), Some(Value::Compressed(_))));
        assert_eq!(expand_field(&wire, "data").unwrap(), Some(child.clone()));
        assert_eq!(expand_field(&m, "data").unwrap(), Some(child));
        assert_eq!(expand_field(&wire, "t").unwrap(), None);
        let mut no_alg = wire.clone();
        no_alg.remove(crate::netstring::COMPRESSION_ALGORITHM_FIELD);
        assert!(matches!(
            expand_field(&no_alg, "data"),
            Err(WireError::UnknownCompression { .. })
        ));
    }

    #[test]
    fn zlib_matches_c_compress_header_and_round_trips() {
        let data = b"t=status\nst=active\n".repeat(50);
        let z = compress(Compression::Zlib, &data).unwrap();
        assert_eq!(&z[..2], &[0x78, 0x9c]);
        assert_eq!(
            decompress(Compression::Zlib, &z, MAX_UNCOMPRESSED).unwrap(),
            data
        );
    }

    #[test]
    fn bz2_uses_block_size_1_and_round_trips() {
        let data = vec![b'x'; 5000];
        let b = compress(Compression::Bz2, &data).unwrap();
        assert_eq!(&b[..4], b"BZh1");
        assert_eq!(
            decompress(Compression::Bz2, &b, MAX_UNCOMPRESSED).unwrap(),
            data
        );
    }

    #[test]
    fn decompress_refuses_output_over_limit() {
        let data = vec![0u8; 10_000];
        for alg in [Compression::Zlib, Compression::Bz2] {
            let c = compress(alg, &data).unwrap();
            assert!(matches!(
                decompress(alg, &c, 9_999),
                Err(WireError::TooBig {
                    size: 10_000,
                    max: 9_999,
                    ..
                })
            ));
            assert_eq!(decompress(alg, &c, 10_000).unwrap().len(), 10_000);
        }
    }

    #[test]
    fn decompress_rejects_garbage_and_truncation() {
        let c = compress(Compression::Zlib, &[7u8; 3000]).unwrap();
        assert!(decompress(Compression::Zlib, &c[..c.len() / 2], MAX_UNCOMPRESSED).is_err());
        assert!(decompress(Compression::Zlib, b"not zlib", MAX_UNCOMPRESSED).is_err());
        assert!(decompress(Compression::Bz2, b"BZh1garbage", MAX_UNCOMPRESSED).is_err());
    }

    #[test]
    fn names_parse() {
        assert_eq!("zlib".parse::<Compression>().unwrap(), Compression::Zlib);
        assert_eq!("bz2".parse::<Compression>().unwrap(), Compression::Bz2);
        assert!("gzip".parse::<Compression>().is_err());
    }
}
