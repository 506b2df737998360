//! What the agent and the CLI read from a server, which they do not trust: any bytes as a
//! failed reply's error, and as the long poll's reply and its offers. None may panic; an
//! offer that parses is exactly one of the kinds the agent knows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&hi, rest)) = data.split_first() {
        let status = 400 + u16::from(hi) % 200;
        let e = wire::client::reply_error(status, rest);
        assert!(e.msg().starts_with("the server said "));
    }
    if let Ok(r) = serde_json::from_slice::<wire::WaitReply>(data) {
        for o in r.live {
            assert!(matches!(o.offer, wire::Offer::Live | wire::Offer::PrepareClip(_)));
        }
    }
    let _ = serde_json::from_slice::<wire::ErrorBody>(data);
    let _ = serde_json::from_slice::<wire::StoredRoster>(data);
    let _ = serde_json::from_slice::<wire::PairingOffer>(data);
});
