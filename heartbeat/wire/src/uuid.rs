//! Node UUIDs as carried in `(1)srcuuid` / `(1)destuuid` (§3.8).

use std::fmt::Write as _;

/// A node UUID: the 16 raw bytes sent on the wire.
pub type Uuid = [u8; 16];

/// The seed heartbeat derives from a node name for `uuidfrom nodename`: a 31-multiplier
/// hash over the name's bytes taken as *signed* chars, in 32-bit arithmetic.
pub fn nodename_seed(name: &str) -> u32 {
    let mut bytes = name.bytes().map(|b| i32::from(b as i8));
    let Some(first) = bytes.next() else {
        return 0;
    };
    bytes.fold(first, |h, c| h.wrapping_mul(31).wrapping_add(c)) as u32
}

/// glibc's `srand()`/`rand()` (the default TYPE_3 additive feedback generator), which
/// `uuidfrom nodename` depends on bit for bit.
struct GlibcRand {
    r: [i32; 34],
    i: usize,
}

impl GlibcRand {
    fn new(seed: u32) -> GlibcRand {
        let mut r = [0i32; 34];
        // glibc maps seed 0 to 1 and keeps the seed as a signed 32-bit word.
        r[0] = if seed == 0 { 1 } else { seed as i32 };
        for i in 1..31 {
            // 16807 * r mod (2^31 - 1) via Schrage's method, as glibc does.
            let word = i64::from(r[i - 1]);
            let (hi, lo) = (word / 127_773, word % 127_773);
            let mut w = 16_807 * lo - 2_836 * hi;
            if w < 0 {
                w += 2_147_483_647;
            }
            r[i] = w as i32;
        }
        for i in 31..34 {
            r[i] = r[i - 31];
        }
        let mut g = GlibcRand { r, i: 0 };
        // glibc discards the first 310 outputs (34 + 310 = 344 initial words).
        for _ in 0..310 {
            g.step();
        }
        g
    }

    fn step(&mut self) -> i32 {
        // Ring buffer over the last 34 words: r[k] = r[k-31] + r[k-3].
        let k = self.i;
        let v = self.r[(k + 34 - 31) % 34].wrapping_add(self.r[(k + 34 - 3) % 34]);
        self.r[k] = v;
        self.i = (k + 1) % 34;
        v
    }

    fn rand(&mut self) -> i32 {
        ((self.step() as u32) >> 1) as i32
    }
}

/// The UUID a heartbeat node with `uuidfrom nodename` uses: `srand(seed)`, then 32
/// hex digits `rand() % 16`, read as the UUID text `xxxxxxxx-xxxx-…`.
pub fn uuid_from_nodename(name: &str) -> Uuid {
    let mut g = GlibcRand::new(nodename_seed(name));
    let mut out = [0u8; 16];
    for b in out.iter_mut() {
        let hi = (g.rand() % 16) as u8;
        let lo = (g.rand() % 16) as u8;
        *b = hi << 4 | lo;
    }
    out
}

/// Formats a UUID the way heartbeat logs it (`cc301fda-9190-a843-de51-a987ec340ccc`).
pub fn format_uuid(uuid: &Uuid) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        for (name, seed, uuid) in [
            ("alpha", 92_909_918, "cc301fda-9190-a843-de51-a987ec340ccc"),
            ("bravo", 93_998_218, "cb287cf1-568b-357b-df7f-7d2ca7d112be"),
            ("node1", 104_993_391, "90b8de77-08c8-7a6c-fef1-993a43051dba"),
        ] {
            assert_eq!(nodename_seed(name), seed, "{name}");
            assert_eq!(format_uuid(&uuid_from_nodename(name)), uuid, "{name}");
        }
    }

    #[test]
    fn glibc_rand_first_outputs() {
        // glibc: srand(1); rand() -> 1804289383, 846930886, 1681692777.
        let mut g = GlibcRand::new(1);
        assert_eq!(
            [g.rand(), g.rand(), g.rand()],
            [1_804_289_383, 846_930_886, 1_681_692_777]
        );
    }

    #[test]
    fn high_bit_names_hash_as_signed_chars() {
        // 'é' is 0xc3 0xa9 in UTF-8: both bytes are negative as signed chars.
        assert_eq!(nodename_seed("é"), ((-61i32) * 31 + (-87)) as u32);
    }
}
