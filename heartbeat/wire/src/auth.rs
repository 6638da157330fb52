//! Message authentication with `authkeys` slots (§2.5): HMAC-SHA1, HMAC-MD5 and CRC.

use std::fmt;
use std::str::FromStr;

use crc::{Crc, CRC_32_CKSUM};
use hmac::{Hmac, Mac};

use crate::WireError;

/// Number of `authkeys` slots (indices 0-15).
pub const KEY_SLOTS: usize = 16;

/// CRC-32/POSIX as heartbeat's `crc` plugin computes it: the `cksum` polynomial and
/// final XOR, but without `cksum`'s trailing length bytes (the crc crate's
/// `CRC_32_CKSUM` parameters are exactly that).
const POSIX_CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_CKSUM);

/// An authentication plugin (`/usr/lib/heartbeat/plugins/HBauth/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Crc,
    Md5,
    Sha1,
}

impl AuthMethod {
    /// The method name as written in `authkeys`.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Crc => "crc",
            AuthMethod::Md5 => "md5",
            AuthMethod::Sha1 => "sha1",
        }
    }

    /// The digest text heartbeat puts on the wire for `data` signed with `key`
    /// (lowercase hex; `crc` as `%lx` without leading zeros and ignoring the key).
    pub fn digest(self, key: &[u8], data: &[u8]) -> String {
        match self {
            AuthMethod::Crc => format!("{:x}", POSIX_CRC.checksum(data)),
            AuthMethod::Md5 => match Hmac::<md5::Md5>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    hex(&mac.finalize().into_bytes())
                }
                // HMAC takes keys of any length (RFC 2104 hashes long ones).
                Err(_) => String::new(),
            },
            AuthMethod::Sha1 => match Hmac::<sha1::Sha1>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    hex(&mac.finalize().into_bytes())
                }
                Err(_) => String::new(),
            },
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    // By table rather than `{:02x}`: every packet sent or received goes through here.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown `authkeys` method name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown authentication method {0:?} (expected crc, md5 or sha1)")]
pub struct UnknownAuthMethod(pub String);

impl FromStr for AuthMethod {
    type Err = UnknownAuthMethod;
    fn from_str(s: &str) -> Result<AuthMethod, UnknownAuthMethod> {
        match s {
            "crc" => Ok(AuthMethod::Crc),
            "md5" => Ok(AuthMethod::Md5),
            "sha1" => Ok(AuthMethod::Sha1),
            _ => Err(UnknownAuthMethod(s.to_string())),
        }
    }
}

/// One `authkeys` slot: a method and its secret (empty for `crc`).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    pub method: AuthMethod,
    pub key: Vec<u8>,
}

impl AuthKey {
    pub fn new(method: AuthMethod, key: impl AsRef<[u8]>) -> AuthKey {
        AuthKey {
            method,
            key: key.as_ref().to_vec(),
        }
    }
}

impl fmt::Debug for AuthKey {
    // Keep secrets out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("method", &self.method)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

/// The parsed `authkeys` file: up to 16 slots and the `auth N` slot used for signing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Keyring {
    pub active: u8,
    pub slots: [Option<AuthKey>; KEY_SLOTS],
}

impl Keyring {
    /// A keyring with a single slot, which is also the active one.
    pub fn single(index: u8, key: AuthKey) -> Keyring {
        let mut k = Keyring {
            active: index,
            ..Keyring::default()
        };
        if let Some(slot) = k.slots.get_mut(usize::from(index)) {
            *slot = Some(key);
        }
        k
    }

    /// The slot at `index`, if it is defined.
    pub fn slot(&self, index: u8) -> Option<&AuthKey> {
        self.slots.get(usize::from(index))?.as_ref()
    }

    /// The slot selected by `auth N`.
    pub fn active_key(&self) -> Option<&AuthKey> {
        self.slot(self.active)
    }

    /// Signs `data` with the active slot: `(slot index, digest)`.
    ///
    /// An undefined active slot yields an empty digest, which every receiver rejects;
    /// use [`Keyring::try_sign`] to get an error instead.
    pub fn sign(&self, data: &[u8]) -> (u8, String) {
        self.try_sign(data).unwrap_or((self.active, String::new()))
    }

    /// Signs `data` with the active slot, failing if `authkeys` does not define it.
    pub fn try_sign(&self, data: &[u8]) -> Result<(u8, String), WireError> {
        let key = self
            .active_key()
            .ok_or(WireError::NoKey { index: self.active })?;
        Ok((self.active, key.method.digest(&key.key, data)))
    }

    /// The digest heartbeat expects in a netstring *trailer* naming slot `index`:
    /// the algorithm of slot `index` keyed with the **active** slot's secret.
    ///
    /// This reproduces an upstream bug (`hb_compute_authentication` always uses the
    /// configured slot's key), so packets signed with another slot's key only verify
    /// when both slots share the secret — exactly as between C nodes.
    pub fn expected_trailer_digest(&self, index: u8, data: &[u8]) -> Option<String> {
        let method = self.slot(index)?.method;
        let key = self.active_key()?;
        Some(method.digest(&key.key, data))
    }

    /// The digest expected in a classic in-band `auth` field naming slot `index`
    /// (algorithm and key of that slot).
    pub fn expected_inband_digest(&self, index: u8, data: &[u8]) -> Option<String> {
        let slot = self.slot(index)?;
        Some(slot.method.digest(&slot.key, data))
    }

    /// Verifies a netstring-trailer digest as heartbeat does (see
    /// [`Keyring::expected_trailer_digest`]): false for undefined slots.
    pub fn verify(&self, index: u8, data: &[u8], digest: &str) -> bool {
        self.expected_trailer_digest(index, data).as_deref() == Some(digest)
    }

    /// Verifies an in-band `auth` field of a classic (`>>>`) packet: algorithm and key
    /// of slot `index`.
    pub fn verify_inband(&self, index: u8, data: &[u8], digest: &str) -> bool {
        self.expected_inband_digest(index, data).as_deref() == Some(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: u8) -> Keyring {
        let mut k = Keyring {
            active,
            ..Keyring::default()
        };
        k.slots[1] = Some(AuthKey::new(AuthMethod::Sha1, "s3cr3tkey"));
        k.slots[2] = Some(AuthKey::new(AuthMethod::Md5, "s3cr3tkey"));
        k.slots[3] = Some(AuthKey::new(AuthMethod::Crc, ""));
        k
    }

    #[test]
    fn digests_match_rfc2104_vectors() {
        // RFC 2202 test case 2.
        assert_eq!(
            AuthMethod::Md5.digest(b"Jefe", b"what do ya want for nothing?"),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            AuthMethod::Sha1.digest(b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // RFC 2202 test case 6: an 80-byte key is hashed first.
        assert_eq!(
            AuthMethod::Sha1.digest(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn crc_is_posix_without_length_and_without_leading_zeros() {
        // CRC-32/CKSUM check value of the catalogue (no length suffix).
        assert_eq!(AuthMethod::Crc.digest(b"ignored", b"123456789"), "765e7680");
        assert_eq!(AuthMethod::Crc.digest(b"", b""), "ffffffff");
        // %lx: a CRC below 0x10000000 prints with fewer than 8 digits.
        let short = (0u32..)
            .map(|i| i.to_le_bytes())
            .find(|d| POSIX_CRC.checksum(d) < 0x1000_0000)
            .unwrap();
        let d = AuthMethod::Crc.digest(b"", &short);
        assert!(d.len() < 8 && !d.starts_with('0'), "{d}");
    }

    #[test]
    fn worked_example_trailer_and_inband() {
        let inband = b"t=status\nst=up\ndt=2ee0\nprotocol=1\nsrc=alpha\n(1)srcuuid=xvY4Pux0TV6qZbd74shiEg==\nseq=2\nhg=6b080148\nts=6b080147\nld=0.45 0.31 0.13 1/113 21268\nttl=3\n";
        let k = ring(1);
        assert_eq!(
            k.sign(inband),
            (1, "be97eb438fa1c804853ac658835a818da0c0d0cc".to_string())
        );
        assert!(k.verify_inband(1, inband, "be97eb438fa1c804853ac658835a818da0c0d0cc"));
        assert!(!k.verify_inband(2, inband, "be97eb438fa1c804853ac658835a818da0c0d0cc"));
    }

    #[test]
    fn trailer_verification_uses_the_active_key() {
        let data = b"###\n%%%\n";
        let mut k = ring(1);
        k.slots[2] = Some(AuthKey::new(AuthMethod::Md5, "other"));
        let md5_with_active_key = AuthMethod::Md5.digest(b"s3cr3tkey", data);
        let md5_with_own_key = AuthMethod::Md5.digest(b"other", data);
        assert!(k.verify(2, data, &md5_with_active_key));
        assert!(!k.verify(2, data, &md5_with_own_key));
        assert!(k.verify_inband(2, data, &md5_with_own_key));
        assert!(!k.verify(9, data, &md5_with_own_key));
        assert!(!k.verify(200, data, &md5_with_own_key));
    }

    #[test]
    fn empty_active_slot_cannot_sign() {
        let k = Keyring {
            active: 5,
            ..ring(1)
        };
        assert_eq!(k.sign(b"x"), (5, String::new()));
        assert!(matches!(
            k.try_sign(b"x"),
            Err(WireError::NoKey { index: 5 })
        ));
        assert!("sha256".parse::<AuthMethod>().is_err());
        assert_eq!("md5".parse::<AuthMethod>().unwrap(), AuthMethod::Md5);
    }
}
