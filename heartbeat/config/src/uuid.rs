//! `uuidfrom nodename`: the node UUID heartbeat derives from the node name.
//!
//! heartbeat hashes the name (31-multiplier string hash over *signed* chars,
//! 32-bit), seeds glibc's `srand` with it and takes 32 hex digits
//! `rand() % 16`, which it then parses as a UUID. Since every node computes
//! the UUIDs of its peers the same way, the bytes must match glibc exactly,
//! so glibc's default `rand()` (the TYPE_3 additive feedback generator) is
//! reproduced here instead of using any Rust RNG.

/// The seed heartbeat logs as `seed is N` for this node name.
pub fn seed(name: &str) -> i32 {
    let mut bytes = name.bytes();
    // x86 `char` is signed: bytes >= 0x80 are sign-extended before the add.
    let signed = |b: u8| b as i8 as i32 as u32;
    let Some(first) = bytes.next() else {
        return 0;
    };
    let mut h = signed(first);
    if h != 0 {
        for b in bytes {
            h = h.wrapping_mul(31).wrapping_add(signed(b));
        }
    }
    h as i32
}

/// glibc `srand`/`rand` with the default TYPE_3 state (degree 31, separation 3).
struct GlibcRand {
    state: [i32; 31],
    front: usize,
    rear: usize,
}

impl GlibcRand {
    fn new(seed: u32) -> Self {
        let seed = if seed == 0 { 1 } else { seed };
        let mut state = [0i32; 31];
        state[0] = seed as i32;
        // `long word = seed` in glibc: the unsigned seed widened, not sign-extended.
        let mut word = i64::from(seed);
        for slot in state.iter_mut().skip(1) {
            let hi = word / 127_773;
            let lo = word % 127_773;
            word = 16_807 * lo - 2_836 * hi;
            if word < 0 {
                word += 2_147_483_647;
            }
            *slot = word as i32;
        }
        let mut rng = Self {
            state,
            front: 3,
            rear: 0,
        };
        for _ in 0..310 {
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> i32 {
        let val = (self.state[self.front] as u32).wrapping_add(self.state[self.rear] as u32);
        self.state[self.front] = val as i32;
        self.front = (self.front + 1) % 31;
        self.rear = (self.rear + 1) % 31;
        (val >> 1) as i32
    }
}

/// The 16 UUID bytes heartbeat generates for `name` with `uuidfrom nodename`.
///
/// Pass the name as heartbeat uses it, i.e. already lower-cased.
pub fn from_nodename(name: &str) -> [u8; 16] {
    let mut rng = GlibcRand::new(seed(name) as u32);
    let mut out = [0u8; 16];
    for byte in out.iter_mut() {
        let hi = (rng.next() % 16) as u8;
        let lo = (rng.next() % 16) as u8;
        *byte = (hi << 4) | lo;
    }
    out
}

/// Formats UUID bytes in the usual 8-4-4-4-12 lower-case form.
pub fn format(uuid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        // From reference §3.8 (glibc; bravo verified on the wire).
        assert_eq!(seed("alpha"), 92_909_918);
        assert_eq!(seed("bravo"), 93_998_218);
        assert_eq!(seed("node1"), 104_993_391);
        assert_eq!(
            format(&from_nodename("alpha")),
            "cc301fda-9190-a843-de51-a987ec340ccc"
        );
        assert_eq!(
            format(&from_nodename("bravo")),
            "cb287cf1-568b-357b-df7f-7d2ca7d112be"
        );
        assert_eq!(
            format(&from_nodename("node1")),
            "90b8de77-08c8-7a6c-fef1-993a43051dba"
        );
    }

    #[test]
    fn glibc_rand_known_sequence() {
        // glibc: srand(1); rand() -> 1804289383, 846930886, 1681692777.
        let mut r = GlibcRand::new(1);
        assert_eq!(r.next(), 1_804_289_383);
        assert_eq!(r.next(), 846_930_886);
        assert_eq!(r.next(), 1_681_692_777);
        // srand(0) behaves like srand(1).
        assert_eq!(GlibcRand::new(0).next(), 1_804_289_383);
    }

    #[test]
    fn signed_chars_and_empty_names() {
        assert_eq!(seed(""), 0);
        // 0xc3 0xa9 ("é") sign-extends: -61 * 31 + -87.
        assert_eq!(seed("é"), (-61i32).wrapping_mul(31).wrapping_add(-87));
        // Must not panic for any seed, including negative hashes.
        let _ = from_nodename("ééééééééééé");
    }
}
