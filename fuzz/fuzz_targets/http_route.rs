//! The agent's HTTP request parsing (doorbells and sensors): any bytes give a decision or a
//! 4xx/5xx, never a panic; nothing is accepted without the token when one is set.
#![no_main]

use std::collections::HashMap;

use agent::http::{HttpSpec, route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = HttpSpec {
        token: Some("fuzz-token-0123456789".into()),
        cameras: HashMap::from([("front".to_owned(), true), ("back".to_owned(), false)]),
    };
    if let Ok((input, _)) = route(data, &spec) {
        if input.is_some() {
            let text = String::from_utf8_lossy(data);
            assert!(text.contains("Bearer fuzz-token-0123456789"), "accepted without the token");
        }
    }
    if let Err((status, _)) = route(data, &spec) {
        assert!((400..600).contains(&status));
    }
});
