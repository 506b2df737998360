//! ISO BMFF (MP4) reading and writing.
//!
//! [`demux`] reads the video track of a progressive MP4 (for the file source); [`mux`]
//! writes progressive and fragmented MP4 from stored frames without re-encoding.

pub mod audio;
pub mod demux;
pub mod mux;

/// Appends a box: reserves the size, runs `body`, then patches the size in.
pub(crate) fn write_box(out: &mut Vec<u8>, fourcc: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(fourcc);
    body(out);
    let len = u32::try_from(out.len() - start).expect("box under 4 GiB");
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a full box (box with version and flags).
pub(crate) fn write_full_box(
    out: &mut Vec<u8>,
    fourcc: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    write_box(out, fourcc, |out| {
        out.extend_from_slice(&((u32::from(version) << 24) | (flags & 0xff_ffff)).to_be_bytes());
        body(out);
    });
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// `dinf` with one self-contained data reference (the media is in this file).
pub(crate) fn dinf(o: &mut Vec<u8>) {
    write_box(o, b"dinf", |o| {
        write_full_box(o, b"dref", 0, 0, |o| {
            put_u32(o, 1);
            write_full_box(o, b"url ", 0, 1, |_| {});
        });
    });
}

/// The empty sample tables of a fragmented file's track (its samples are in fragments).
pub(crate) fn empty_sample_tables(o: &mut Vec<u8>) {
    for b in [b"stts", b"stsc", b"stco"] {
        write_full_box(o, b, 0, 0, |o| put_u32(o, 0));
    }
    write_full_box(o, b"stsz", 0, 0, |o| {
        put_u32(o, 0);
        put_u32(o, 0);
    });
}

/// `mvex` for a fragmented file with one track, `track_ID` 1.
pub(crate) fn mvex_one_track(o: &mut Vec<u8>) {
    write_box(o, b"mvex", |o| {
        write_full_box(o, b"trex", 0, 0, |o| {
            put_u32(o, 1); // track_ID
            put_u32(o, 1); // default_sample_description_index
            put_u32(o, 0);
            put_u32(o, 0);
            put_u32(o, 0);
        });
    });
}
