//! Frame indexes are read back from the database, which may be corrupt.
#![no_main]
use libfuzzer_sys::fuzz_target;
use media::index;

fuzz_target!(|data: &[u8]| {
    if let Ok(frames) = index::decode(data) {
        // Whatever decodes re-encodes to a blob that decodes to the same frames.
        let mut blob = Vec::new();
        for f in &frames {
            index::append(&mut blob, f);
        }
        assert_eq!(index::decode(&blob).unwrap(), frames);
    }
});
