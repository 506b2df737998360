//! `porchlight check`: verifies that the index and the segment files agree.
//!
//! Problems are violations of the invariants in `design/recording.md`; they should never
//! happen. Notes describe the state a crash legitimately leaves (an unindexed tail on an open
//! segment, a file created after the last commit), which the agent's recovery repairs at its
//! next start.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;

use base::Error;
use index::Connection;
use media::index as frame_index;

use crate::layout::Layout;
use crate::recovery::segment_files;

#[derive(Debug, Default)]
pub struct CheckReport {
    pub segments: u64,
    pub frames: u64,
    pub bytes: u64,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    /// Bytes on disk beyond the index in open segments (lost if recovery runs now).
    pub unindexed_bytes: u64,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the data folder. With `deep`, also reads every frame and checks its NAL framing.
pub fn check(conn: &Connection, layout: &Layout, deep: bool) -> Result<CheckReport, Error> {
    let mut r = CheckReport::default();
    let segments = index::all_segments(conn)?;
    let mut entries: HashMap<i64, Option<media::SampleEntry>> = HashMap::new();
    let sound_streams: HashSet<i64> =
        index::list_streams(conn)?.into_iter().filter(|s| s.kind == "audio").map(|s| s.id).collect();
    let mut prev_end: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut rows = HashSet::new();
    let mut buf = Vec::new();
    for s in &segments {
        r.segments += 1;
        rows.insert((s.stream_id, s.id));
        let name = format!("segment {} (stream {})", s.id, s.stream_id);
        let entry =
            entries.entry(s.sample_entry_id).or_insert_with(|| index::get_sample_entry(conn, s.sample_entry_id).ok());
        let sound = sound_streams.contains(&s.stream_id);
        // The frames' framing, for the deep check: NAL units for pictures, whole samples of
        // every channel for L16, Opus packets that say their length, anything for AAC and
        // G.711 (every byte is a sample).
        let mut pcm_frame = None;
        let mut opus = false;
        match entry {
            None => r.problems.push(format!("{name}: sample entry {} is missing or invalid", s.sample_entry_id)),
            Some(e) if e.is_audio() != sound => r.problems.push(format!(
                "{name}: a {} stream's segment has {} parameters",
                if sound { "sound" } else { "picture" },
                e.codec.as_str()
            )),
            Some(e) if e.codec == media::Codec::L16 => pcm_frame = Some(2 * u32::from(e.channels)),
            Some(e) if e.codec == media::Codec::Opus => opus = true,
            Some(_) => {}
        }
        if let Some(&(end, prev)) = prev_end.get(&s.stream_id)
            && s.start_90k < end
        {
            r.problems.push(format!("{name}: starts {} (90 kHz) before segment {prev} ends", end - s.start_90k));
        }
        prev_end.insert(s.stream_id, (s.end_90k(), s.id));
        let frames = match frame_index::decode(&s.frame_index) {
            Ok(f) => f,
            Err(e) => {
                r.problems.push(format!("{name}: {}", e.msg()));
                continue;
            }
        };
        let size: i64 = frames.iter().map(|f| i64::from(f.size_bytes)).sum();
        let dur: i64 = frames.iter().map(|f| i64::from(f.duration_90k)).sum();
        let keys = frames.iter().filter(|f| f.is_key).count() as i64;
        if size != s.size_bytes || dur != s.duration_90k || frames.len() as i64 != s.frames || keys != s.key_frames {
            r.problems.push(format!(
                "{name}: row says {} frames/{} key/{} bytes/{} duration but its index has {}/{keys}/{size}/{dur}",
                s.frames,
                s.key_frames,
                s.size_bytes,
                s.duration_90k,
                frames.len()
            ));
        }
        if frames.first().is_some_and(|f| !f.is_key) {
            r.problems.push(format!("{name}: does not start with a key frame"));
        }
        r.frames += frames.len() as u64;
        r.bytes += s.size_bytes as u64;
        let path = layout.segment(s.stream_id, s.id);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                r.problems.push(format!("{name}: file {}: {e}", path.display()));
                continue;
            }
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let indexed = s.size_bytes as u64;
        if len < indexed {
            r.problems.push(format!("{name}: file has {len} bytes, fewer than the {indexed} indexed"));
            continue;
        }
        if len > indexed {
            if s.open {
                r.unindexed_bytes += len - indexed;
                r.notes.push(format!(
                    "{name}: open, {} bytes past the index (the padding of its last block, or footage written \
                     after the last commit; recovery drops them)",
                    len - indexed
                ));
            } else {
                r.problems.push(format!("{name}: closed, but the file has {} bytes not in the index", len - indexed));
            }
        } else if s.open {
            r.notes.push(format!("{name}: open (agent running or stopped uncleanly)"));
        }
        if deep {
            let mut off = 0u64;
            for (i, f) in frames.iter().enumerate() {
                buf.resize(f.size_bytes as usize, 0);
                if let Err(e) = file.read_exact_at(&mut buf, off) {
                    r.problems.push(format!("{name}: frame {i}: reading at byte {off}: {e}"));
                    break;
                }
                if sound {
                    if let Some(n) = pcm_frame
                        && f.size_bytes % n != 0
                    {
                        r.problems.push(format!(
                            "{name}: frame {i} at byte {off}: {} bytes of L16 is not a whole number of {n}-byte samples",
                            f.size_bytes
                        ));
                        break;
                    }
                    if opus && media::opus::packet_samples(&buf).is_none() {
                        r.problems.push(format!("{name}: frame {i} at byte {off}: not an Opus packet"));
                        break;
                    }
                } else if let Err(e) = media::nal::check_length_prefixed(&buf) {
                    r.problems.push(format!("{name}: frame {i} at byte {off}: {}", e.msg()));
                    break;
                }
                off += u64::from(f.size_bytes);
            }
        }
    }
    for (stream_id, id, path) in segment_files(layout)? {
        if !rows.contains(&(stream_id, id)) {
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            r.unindexed_bytes += len;
            r.notes.push(format!(
                "file {} has no index row ({len} bytes written after the last commit; recovery deletes it)",
                path.display()
            ));
        }
    }
    Ok(r)
}
