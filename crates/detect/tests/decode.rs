//! OpenH264 on the generated test clip (640x360, Baseline, 15 fps): every frame decodes,
//! damage is reported and recovered from at the next key frame.

use std::os::unix::fs::FileExt;
use std::path::Path;

use porchlight_detect::decode::H264Decoder;

fn clip() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/generated/back.mp4");
    assert!(p.exists(), "{} is missing: run `make testdata` first", p.display());
    p
}

#[test]
fn decodes_every_frame_and_recovers_from_damage() {
    let (file, track) = media::source::file::read_track(&clip()).unwrap();
    let mut dec = H264Decoder::new(&track.sample_entry).unwrap();
    let mut pictures = 0;
    let mut buf = Vec::new();
    for s in &track.samples {
        buf.resize(s.size as usize, 0);
        file.read_exact_at(&mut buf, s.offset).unwrap();
        if let Some(p) = dec.decode(&buf, s.is_key).unwrap() {
            assert_eq!((p.width, p.height), (640, 360));
            let owned = p.to_owned();
            assert_eq!((owned.y.len(), owned.u.len(), owned.v.len()), (640 * 360, 320 * 180, 320 * 180));
            assert!(owned.y.iter().any(|&v| v > 16), "an all-black picture");
            assert!(owned.u.iter().chain(&owned.v).any(|&c| c.abs_diff(128) > 8), "a picture without colour");
            pictures += 1;
        }
    }
    assert_eq!(pictures, track.samples.len(), "every frame of a B-frame-free stream gives a picture");

    // A frame whose length prefix overruns it: an error, then nothing until a key frame.
    let mut dec = H264Decoder::new(&track.sample_entry).unwrap();
    let read = |i: usize| {
        let s = &track.samples[i];
        let mut b = vec![0u8; s.size as usize];
        file.read_exact_at(&mut b, s.offset).unwrap();
        b
    };
    assert!(dec.decode(&read(0), true).unwrap().is_some());
    let mut bad = read(1);
    bad[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let e = dec.decode(&bad, false).unwrap_err();
    assert!(e.to_string().contains("skipping to the next key frame"), "{e}");
    assert!(dec.decode(&read(2), false).unwrap().is_none(), "a P-frame after damage is skipped");
    let key = track.samples.iter().position(|s| s.is_key && s.dts > 0).expect("a second key frame");
    assert!(dec.decode(&read(key), true).unwrap().is_some(), "decoding resumes at the key frame");
}

#[test]
fn h265_is_refused_clearly() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/generated/h265.mp4");
    let (_, track) = media::source::file::read_track(&p).unwrap();
    let e = H264Decoder::new(&track.sample_entry).err().unwrap();
    assert!(e.to_string().contains("H.264 only"), "{e}");
}
