//! A browser's push subscription keys, which the server takes from any member: any text as
//! `p256dh` and `auth` is parsed without panic, and keys that parse can be encrypted to;
//! any bytes as a push body are read (by the test side's decryption) without panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (a, b) = data.split_at(data.len() / 2);
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    if let Ok(keys) = api::push::SubscriptionKeys::parse(&a, &b) {
        let body = api::push::encrypt(&keys, b"{}").expect("keys that parse take a message");
        assert!(body.len() > 86);
    }
    let ua = api::push::KeyPair::from_bytes(&[7u8; 32]).expect("a valid scalar");
    let keys = api::push::SubscriptionKeys { p256dh: ua.public(), auth: [1u8; 16] };
    let _ = api::push::decrypt(&ua, &keys, data);
});
