//! Sealed-object headers arrive from the server (untrusted) and from disk: parsing,
//! signature checking and chunk opening must reject anything malformed without panicking.
#![no_main]
use crypto::object::{self, Header, PREFIX_BYTES};
use crypto::stream::{ContentKey, Opener};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = object::header_len_from_prefix(data.get(..PREFIX_BYTES).unwrap_or(data)) {
        assert!(n <= object::HEADER_BYTES_MAX);
    }
    if let Ok(h) = Header::parse(data) {
        // A header that parses re-encodes to exactly the bytes it came from.
        assert_eq!(h.encode(), &data[..h.len]);
    }
    let _ = object::verify_object(data);
    // Chunk opening with a fixed key: any input is rejected cleanly.
    if data.len() > 8 {
        let len = u64::from_le_bytes(data[..8].try_into().unwrap()) % (1 << 20);
        if let Ok(o) = Opener::new(&ContentKey::from_bytes([7; 32]), [1; 7], len) {
            for i in 0..o.chunk_count().min(4) {
                assert!(o.open_chunk(i, &data[8..]).is_err());
            }
        }
    }
});
