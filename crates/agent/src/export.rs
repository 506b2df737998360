//! Export: any time range of a stream as an MP4 or fragmented MP4, without re-encoding.
//!
//! The output starts at the key frame at or before the requested start (so it decodes from
//! its first frame) and ends with the last frame that starts before the requested end.
//! Stretches with no footage (gaps between runs) are not filled: the MP4 plays the footage
//! on either side back to back, and [`Export::gaps`] lists what was skipped so that callers
//! can say so.

use std::collections::HashMap;
use std::sync::Arc;

use base::{Error, bail};
use index::Connection;
use media::SampleEntry;
use media::index as frame_index;
use media::mp4::mux::{self, BodyRange, Part, Plan};

use crate::layout::Layout;

pub struct Export {
    pub plan: Plan,
    /// Wall time of the first exported frame.
    pub start_90k: i64,
    /// Wall time just after the last exported frame.
    pub end_90k: i64,
    pub frames: u64,
    /// `(start, end)` of stretches inside the export without footage.
    pub gaps: Vec<(i64, i64)>,
    pub entries: Vec<Arc<SampleEntry>>,
}

pub fn export(
    conn: &Connection,
    layout: &Layout,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
    fragmented: bool,
) -> Result<Export, Error> {
    export_from(conn, layout, stream_id, start_90k, end_90k, fragmented, i64::MIN)
}

/// [`export`], starting at no key frame before `floor_90k` (the first one at or after it
/// when the one before `start_90k` is earlier): nothing before a member's window leaks in.
pub fn export_from(
    conn: &Connection,
    layout: &Layout,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
    fragmented: bool,
    floor_90k: i64,
) -> Result<Export, Error> {
    if end_90k <= start_90k {
        bail!(InvalidArgument, "--to must be after --from");
    }
    let segments = index::segments_in_range(conn, stream_id, start_90k, end_90k)?;
    let mut entry_index: HashMap<i64, usize> = HashMap::new();
    let mut entries = Vec::new();
    let mut parts = Vec::new();
    let mut gaps = Vec::new();
    let mut first_start = None;
    let mut last_end = None::<i64>;
    let mut frames_total = 0u64;
    for s in &segments {
        let frames =
            frame_index::decode(&s.frame_index).map_err(|e| base::err!(DataLoss, "segment {}: {}", s.id, e.msg()))?;
        // Frame start times, and the first frame to include.
        let mut t = s.start_90k;
        let mut starts = Vec::with_capacity(frames.len());
        for f in &frames {
            starts.push(t);
            t += i64::from(f.duration_90k);
        }
        let mut first = 0;
        if first_start.is_none() {
            // The key frame at or before the start (segments begin with one), not before
            // the floor; failing that, the first key frame at or after the floor.
            let key_ok = |i: usize| frames[i].is_key && starts[i] >= floor_90k;
            let before = (0..frames.len()).take_while(|&i| starts[i] <= start_90k).filter(|&i| key_ok(i)).last();
            first = match before.or_else(|| (0..frames.len()).find(|&i| key_ok(i))) {
                Some(i) => i,
                None => continue,
            };
        }
        let last = starts.iter().rposition(|&st| st < end_90k).map_or(0, |i| i + 1);
        if first >= last {
            continue;
        }
        let offset: u64 = frames[..first].iter().map(|f| u64::from(f.size_bytes)).sum();
        let len: u64 = frames[first..last].iter().map(|f| u64::from(f.size_bytes)).sum();
        let n = entry_index.len();
        let entry = match entry_index.get(&s.sample_entry_id) {
            Some(&i) => i,
            None => {
                entries.push(Arc::new(index::get_sample_entry(conn, s.sample_entry_id)?));
                entry_index.insert(s.sample_entry_id, n);
                n
            }
        };
        let seg_start = starts[first];
        if let Some(end) = last_end
            && seg_start > end
        {
            gaps.push((end, seg_start));
        }
        first_start.get_or_insert(seg_start);
        last_end = Some(starts[last - 1] + i64::from(frames[last - 1].duration_90k));
        frames_total += (last - first) as u64;
        parts.push(Part {
            entry,
            frames: frames[first..last].to_vec(),
            body: BodyRange { path: layout.segment(s.stream_id, s.id), offset, len },
        });
    }
    let Some(start) = first_start else {
        bail!(NotFound, "no footage between the requested times");
    };
    let plan =
        if fragmented { mux::fragmented(&entries, &parts, start) } else { mux::progressive(&entries, &parts, start) };
    Ok(Export { plan, start_90k: start, end_90k: last_end.unwrap_or(start), frames: frames_total, gaps, entries })
}
