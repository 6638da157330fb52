//! Feeds arbitrary datagrams to the receive path: both must return, never panic.
//!
//! Run with `cargo fuzz run decode_packet` from heartbeat/wire/.

#![no_main]

use std::sync::OnceLock;

use hb_wire::auth::{AuthKey, AuthMethod, Keyring};
use libfuzzer_sys::fuzz_target;

/// The capture keyring (sha1, md5 and crc slots), so that every auth path is reachable.
fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let mut k = Keyring {
            active: 3,
            ..Keyring::default()
        };
        k.slots[1] = Some(AuthKey::new(AuthMethod::Sha1, "s3cr3tkey"));
        k.slots[2] = Some(AuthKey::new(AuthMethod::Md5, "s3cr3tkey"));
        k.slots[3] = Some(AuthKey::new(AuthMethod::Crc, ""));
        k
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = hb_wire::decode_any(data);
    if let Ok(msg) = hb_wire::packet::decode_packet(data, keyring()) {
        // Anything accepted must be representable again.
        let _ = hb_wire::netstring::encode(&msg);
        let _ = hb_wire::to_text(&msg);
    }
});
