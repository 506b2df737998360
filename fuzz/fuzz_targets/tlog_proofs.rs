//! The transparency log's verifiers on hostile input: signed tree heads from a server,
//! inclusion and consistency proofs of any length and sizes, a verifier's kept tree edge,
//! and log entries' text. None may panic; a head or edge that parses re-encodes to the
//! same bytes.
#![no_main]

use crypto::tlog::{Frontier, Hash, SignedTreeHead, verify_consistency, verify_inclusion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = SignedTreeHead::parse(data) {
        assert_eq!(h.encode(), data);
    }
    if let Ok(f) = Frontier::parse(data) {
        assert_eq!(f.encode(), data);
        let _ = f.root();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = api::log::Record::parse(text);
    }
    if data.len() < 80 {
        return;
    }
    let u = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().unwrap());
    let (a, b) = (u(0), u(8));
    let r1: Hash = data[16..48].try_into().unwrap();
    let r2: Hash = data[48..80].try_into().unwrap();
    let proof: Vec<Hash> = data[80..].chunks_exact(32).map(|c| c.try_into().unwrap()).collect();
    let _ = verify_inclusion(&r1, a, b, &proof, &r2);
    let _ = verify_consistency(a, b, &r1, &r2, &proof);
    // Small sizes too, where the loops actually run to the end.
    let _ = verify_inclusion(&r1, a % 70, b % 70, &proof, &r2);
    let _ = verify_consistency(a % 70, b % 70, &r1, &r2, &proof);
});
