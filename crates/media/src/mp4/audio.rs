//! Fragmented MP4 for one audio track: what live view plays a camera's sound from. Opus
//! for sound converted on the agent (Media Source Extensions take Opus in MP4 in every
//! current browser; G.711, what most cameras send, they do not), or a camera's AAC as it
//! came.
//!
//! The Opus sample entry and its `dOps` box follow "Encapsulation of Opus in ISO Base
//! Media File Format" (version 0.6.8); times use a 48 kHz timescale, Opus's own.

use super::{empty_sample_tables, mvex_one_track, put_u16, put_u32, put_u64, write_box, write_full_box};

/// Opus's timescale in MP4.
pub const TIMESCALE: u32 = 48_000;

/// The initialization segment: `ftyp` + `moov` with one Opus track (`track_ID` 1) and
/// `mvex`. `input_rate` is the rate the encoder was fed (informational, for `dOps`; give
/// 48000 for a browser: Chromium refuses a `dOps` rate that differs from the entry's);
/// `pre_skip` the samples at 48 kHz a decoder drops at the start.
pub fn opus_init(channels: u8, pre_skip: u16, input_rate: u32) -> Vec<u8> {
    init(&opus_entry(channels, pre_skip, input_rate), TIMESCALE)
}

/// The initialization segment of one audio track (`track_ID` 1) whose sample entry is
/// `entry` (a whole box: `Opus`, or a camera's `mp4a` passed through) and whose times are in
/// `timescale` units (its sample rate).
pub fn init(entry: &[u8], timescale: u32) -> Vec<u8> {
    let mut out = Vec::new();
    write_box(&mut out, b"ftyp", |o| {
        o.extend_from_slice(b"iso6");
        put_u32(o, 0);
        for b in [b"iso6", b"mp41", b"Opus"] {
            o.extend_from_slice(b);
        }
    });
    write_box(&mut out, b"moov", |o| {
        write_full_box(o, b"mvhd", 0, 0, |o| {
            put_u32(o, 0); // creation
            put_u32(o, 0); // modification
            put_u32(o, timescale);
            put_u32(o, 0); // duration: fragments say
            put_u32(o, 0x0001_0000); // rate 1.0
            put_u16(o, 0x0100); // volume 1.0
            o.extend_from_slice(&[0; 10]);
            for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
                put_u32(o, v);
            }
            o.extend_from_slice(&[0; 24]);
            put_u32(o, 2); // next_track_ID
        });
        write_box(o, b"trak", |o| {
            write_full_box(o, b"tkhd", 0, 3, |o| {
                put_u32(o, 0);
                put_u32(o, 0);
                put_u32(o, 1); // track_ID
                put_u32(o, 0);
                put_u32(o, 0); // duration
                o.extend_from_slice(&[0; 8]);
                put_u16(o, 0); // layer
                put_u16(o, 1); // alternate_group: audio
                put_u16(o, 0x0100); // volume
                put_u16(o, 0);
                for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
                    put_u32(o, v);
                }
                put_u32(o, 0); // width
                put_u32(o, 0); // height
            });
            write_box(o, b"mdia", |o| {
                write_full_box(o, b"mdhd", 0, 0, |o| {
                    put_u32(o, 0);
                    put_u32(o, 0);
                    put_u32(o, timescale);
                    put_u32(o, 0);
                    put_u16(o, 0x55c4); // language: und
                    put_u16(o, 0);
                });
                write_full_box(o, b"hdlr", 0, 0, |o| {
                    put_u32(o, 0);
                    o.extend_from_slice(b"soun");
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(b"Porchlight audio\0");
                });
                write_box(o, b"minf", |o| {
                    write_full_box(o, b"smhd", 0, 0, |o| put_u32(o, 0));
                    super::dinf(o);
                    write_box(o, b"stbl", |o| {
                        write_full_box(o, b"stsd", 0, 0, |o| {
                            put_u32(o, 1);
                            o.extend_from_slice(entry);
                        });
                        empty_sample_tables(o);
                    });
                });
            });
        });
        mvex_one_track(o);
    });
    out
}

/// The Opus sample entry (`Opus` with its `dOps`), as a whole box for an `stsd`.
pub fn opus_entry(channels: u8, pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut o = Vec::new();
    write_box(&mut o, b"Opus", |o| {
        o.extend_from_slice(&[0; 6]);
        put_u16(o, 1); // data_reference_index
        o.extend_from_slice(&[0; 8]);
        put_u16(o, u16::from(channels));
        put_u16(o, 16); // samplesize
        put_u32(o, 0);
        put_u32(o, TIMESCALE << 16);
        write_box(o, b"dOps", |o| {
            o.push(0); // version
            o.push(channels);
            put_u16(o, pre_skip);
            put_u32(o, input_rate);
            put_u16(o, 0); // output gain
            o.push(0); // channel mapping family 0: mono or stereo
        });
    });
    o
}

/// One `moof` + `mdat` of audio packets (Opus, or AAC frames), each `(packet, duration in
/// the track's timescale)`, the first decoding at `base_decode`. `sequence` starts at 1.
pub fn fragment(sequence: u32, base_decode: u64, packets: &[(Vec<u8>, u32)]) -> Vec<u8> {
    let build = |data_offset: u32| {
        let mut o = Vec::new();
        write_box(&mut o, b"moof", |o| {
            write_full_box(o, b"mfhd", 0, 0, |o| put_u32(o, sequence));
            write_box(o, b"traf", |o| {
                write_full_box(o, b"tfhd", 0, 0x02_0000, |o| put_u32(o, 1)); // default-base-is-moof
                write_full_box(o, b"tfdt", 1, 0, |o| put_u64(o, base_decode));
                // data-offset, sample-duration and sample-size present
                write_full_box(o, b"trun", 0, 0x001 | 0x100 | 0x200, |o| {
                    put_u32(o, packets.len() as u32);
                    put_u32(o, data_offset);
                    for (p, d) in packets {
                        put_u32(o, *d);
                        put_u32(o, p.len() as u32);
                    }
                });
            });
        });
        o
    };
    let probe = build(0);
    let mut out = build(probe.len() as u32 + 8);
    let body: usize = packets.iter().map(|(p, _)| p.len()).sum();
    put_u32(&mut out, 8 + body as u32);
    out.extend_from_slice(b"mdat");
    for (p, _) in packets {
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxes at the top level of `b`, by type and size.
    fn top(b: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= b.len() {
            let n = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&b[at + 4..at + 8]).into_owned(), n));
            at += n;
        }
        assert_eq!(at, b.len(), "boxes cover the bytes exactly");
        out
    }

    #[test]
    fn an_init_and_a_fragment_are_whole_boxes_with_the_opus_entry() {
        let init = opus_init(1, 312, 8000);
        assert_eq!(top(&init).iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["ftyp", "moov"]);
        let dops = init.windows(4).position(|w| w == b"dOps").expect("a dOps box");
        assert_eq!(&init[dops + 4..dops + 15], &[0, 1, 0x01, 0x38, 0, 0, 0x1f, 0x40, 0, 0, 0]);
        let f = fragment(1, 960, &[(vec![1, 2, 3], 960), (vec![4, 5], 960)]);
        assert_eq!(top(&f).iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["moof", "mdat"]);
        assert_eq!(&f[f.len() - 5..], &[1, 2, 3, 4, 5], "the packets, in order, in the mdat");
        // The trun's data offset points at the first packet.
        let trun = f.windows(4).position(|w| w == b"trun").unwrap();
        let offset = u32::from_be_bytes(f[trun + 12..trun + 16].try_into().unwrap()) as usize;
        assert_eq!(&f[offset..offset + 3], &[1, 2, 3]);
    }
}
