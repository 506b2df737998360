//! Export: any time range of a stream as an MP4 or fragmented MP4, without re-encoding.
//!
//! The output starts at the key frame at or before the requested start (so it decodes from
//! its first frame) and ends with the last frame that starts before the requested end.
//! Stretches with no footage (gaps between runs) are not filled: the MP4 plays the footage
//! on either side back to back, and [`Export::gaps`] lists what was skipped so that callers
//! can say so.

use std::collections::HashMap;
use std::sync::Arc;

use base::{Error, ErrorKind, bail};
use index::Connection;
use media::index as frame_index;
use media::mp4::mux::{self, AudioSample, AudioTrack, BodyRange, Part, Piece, Plan};
use media::{Codec, SampleEntry};

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
    /// Samples of sound in it (0: a silent export), and their codec as exported.
    pub audio_samples: u64,
    pub audio_codec: Option<String>,
    /// The sound track itself, for a caller that re-muxes the picture (the redactor).
    pub audio: Option<AudioTrack>,
}

/// Whether an export carries the camera's recorded sound, and for whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sound {
    /// The picture only (what posts and agency answers start from unless the sound is kept).
    None,
    /// The sound stream's samples as they were recorded (a download: G.711 stays G.711).
    AsRecorded(i64),
    /// For a browser: AAC and Opus as recorded; G.711 and L16, which browsers do not play
    /// from MP4, converted to Opus here.
    ForBrowser(i64),
    /// For a browser, only what needs no conversion (AAC, Opus): long exports that must start at
    /// once (the day view's ten minutes would take seconds of Opus encoding first).
    ForBrowserAsIs(i64),
}

pub fn export(
    conn: &Connection,
    layout: &Layout,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
    fragmented: bool,
) -> Result<Export, Error> {
    export_from(conn, layout, stream_id, start_90k, end_90k, fragmented, i64::MIN, Sound::None)
}

/// [`export`] with the camera's sound, when it was recorded (see [`Sound`]).
pub fn export_with_sound(
    conn: &Connection,
    layout: &Layout,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
    fragmented: bool,
    sound: Sound,
) -> Result<Export, Error> {
    export_from(conn, layout, stream_id, start_90k, end_90k, fragmented, i64::MIN, sound)
}

/// [`export`], starting at no key frame before `floor_90k` (the first one at or after it
/// when the one before `start_90k` is earlier): nothing before a member's window leaks in.
#[allow(clippy::too_many_arguments)]
pub fn export_from(
    conn: &Connection,
    layout: &Layout,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
    fragmented: bool,
    floor_90k: i64,
    sound: Sound,
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
    // Each part's wall-clock start, its start on the export's time line, and its length.
    let mut spans: Vec<(i64, u64, u64)> = Vec::new();
    let mut timeline = 0u64;
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
        let length: u64 = frames[first..last].iter().map(|f| u64::from(f.duration_90k)).sum();
        spans.push((seg_start, timeline, length));
        timeline += length;
        parts.push(Part {
            entry,
            frames: frames[first..last].to_vec(),
            body: BodyRange { path: layout.segment(s.stream_id, s.id), offset, len },
        });
    }
    let Some(start) = first_start else {
        bail!(NotFound, "no footage between the requested times");
    };
    let end = last_end.unwrap_or(start);
    let audio = match sound {
        Sound::None => None,
        Sound::AsRecorded(id) => sound_track(conn, layout, id, &spans, start, end, false)?,
        Sound::ForBrowser(id) => sound_track(conn, layout, id, &spans, start, end, true)?,
        Sound::ForBrowserAsIs(id) => sound_track(conn, layout, id, &spans, start, end, false)?
            .filter(|(t, _)| t.entries.first().is_some_and(|e| matches!(e.get(4..8), Some(b"mp4a") | Some(b"Opus")))),
    };
    let plan = if fragmented {
        mux::fragmented_av(&entries, &parts, audio.as_ref().map(|(t, _)| t), start)
    } else {
        mux::progressive_av(&entries, &parts, audio.as_ref().map(|(t, _)| t), start)
    };
    let audio_samples = audio.as_ref().map_or(0, |(t, _)| t.samples.len() as u64);
    Ok(Export {
        plan,
        start_90k: start,
        end_90k: end,
        frames: frames_total,
        gaps,
        entries,
        audio_samples,
        audio_codec: audio.as_ref().filter(|_| audio_samples > 0).map(|(_, c)| c.clone()),
        audio: audio.map(|(t, _)| t).filter(|t| !t.samples.is_empty()),
    })
}

/// The recorded sound of stream `stream_id` that plays with the picture's `spans` (wall
/// start, start on the export's line, length), placed on the export's line: a sample at
/// wall time `w` inside a span goes where the span puts `w`; sound in the picture's gaps is
/// left out, as the picture is. Returns the track and its codec as exported, or `None`
/// when nothing was recorded then.
fn sound_track(
    conn: &Connection,
    layout: &Layout,
    stream_id: i64,
    spans: &[(i64, u64, u64)],
    start_90k: i64,
    end_90k: i64,
    for_browser: bool,
) -> Result<Option<(AudioTrack, String)>, Error> {
    let mut entries: Vec<Arc<SampleEntry>> = Vec::new();
    let mut entry_index: HashMap<i64, usize> = HashMap::new();
    let mut samples = Vec::new();
    let mut span = 0usize;
    for s in index::segments_in_range(conn, stream_id, start_90k, end_90k)? {
        let frames =
            frame_index::decode(&s.frame_index).map_err(|e| base::err!(DataLoss, "segment {}: {}", s.id, e.msg()))?;
        let entry = match entry_index.get(&s.sample_entry_id) {
            Some(&i) => i,
            None => {
                let e = index::get_sample_entry(conn, s.sample_entry_id)?;
                if !e.is_audio() {
                    bail!(DataLoss, "segment {} of a sound stream holds {}", s.id, e.codec.as_str());
                }
                entries.push(Arc::new(e));
                entry_index.insert(s.sample_entry_id, entries.len() - 1);
                entries.len() - 1
            }
        };
        let path = layout.segment(s.stream_id, s.id);
        let (mut wall, mut offset) = (s.start_90k, 0u64);
        for f in &frames {
            let w = wall;
            let bytes = Piece::Range(BodyRange { path: path.clone(), offset, len: u64::from(f.size_bytes) });
            wall += i64::from(f.duration_90k);
            offset += u64::from(f.size_bytes);
            while span < spans.len() && w >= spans[span].0 + spans[span].2 as i64 {
                span += 1;
            }
            let Some(&(ws, at, _)) = spans.get(span) else { break };
            if w < ws {
                continue; // before the picture, or in a gap of it
            }
            samples.push(AudioSample { at_90k: at + (w - ws) as u64, duration_90k: f.duration_90k, entry, bytes });
        }
    }
    let Some(first) = entries.first().cloned() else { return Ok(None) };
    if entries.iter().any(|e| e.codec != first.codec) {
        // A camera whose sound changed codec within the range: keep the first codec's.
        samples.retain(|s| entries[s.entry].codec == first.codec);
    }
    // Browsers play AAC and Opus in MP4 as they are; G.711 and L16 become Opus.
    if for_browser && !matches!(first.codec, Codec::Aac | Codec::Opus) {
        return to_opus(&entries, &samples).map(|t| t.map(|t| (t, "opus".to_owned())));
    }
    let track =
        AudioTrack { entries: entries.iter().map(|e| e.data.clone()).collect(), timescale: first.sample_rate, samples };
    Ok(Some((track, first.rfc6381_codec.clone())))
}

/// Sampling rates the Opus encoder takes.
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// G.711 or L16 sound as Opus (20 ms packets, one encoder for the whole export), for a
/// browser. Samples whose bytes cannot be read end the conversion with an error; a rate
/// Opus does not take leaves the export silent (and says so).
fn to_opus(entries: &[Arc<SampleEntry>], samples: &[AudioSample]) -> Result<Option<AudioTrack>, Error> {
    let first = &entries[0];
    let rate = first.sample_rate;
    if !OPUS_RATES.contains(&rate) {
        tracing::warn!(
            rate,
            codec = first.codec.as_str(),
            "sound at this rate is not converted for the browser; the clip is silent"
        );
        return Ok(None);
    }
    let opus = |e: opus::Error| Error::wrap(ErrorKind::Internal, "Opus", e);
    let mut enc = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Audio).map_err(opus)?;
    enc.set_bitrate(opus::Bitrate::Bits(32_000)).map_err(opus)?;
    let pre_skip = enc.get_lookahead().map_err(opus)? as u64 * 48_000 / u64::from(rate);
    let frame = rate as usize / 50; // 20 ms
    let channels = usize::from(first.channels.max(1));
    let mut out = Vec::new();
    let mut pcm: Vec<i16> = Vec::new();
    // Where the sound waiting in `pcm` starts on the export's line.
    let mut pcm_at = 0u64;
    let mut files: HashMap<std::path::PathBuf, std::fs::File> = HashMap::new();
    let mut expected_next = None::<u64>;
    for s in samples {
        let Piece::Range(r) = &s.bytes else { continue };
        let mut b = vec![0u8; r.len as usize];
        {
            use std::os::unix::fs::FileExt;
            let f = match files.entry(r.path.clone()) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(
                    std::fs::File::open(&r.path)
                        .map_err(|e| base::err!(DataLoss, "opening {}: {e}", r.path.display()))?,
                ),
            };
            f.read_exact_at(&mut b, r.offset).map_err(|e| base::err!(DataLoss, "reading {}: {e}", r.path.display()))?;
        }
        // A gap in the sound (more than a packet's worth): start the next packet where the
        // sound resumes, after encoding what waits (padded with silence to a whole packet).
        if expected_next.is_some_and(|n| s.at_90k > n + 1800) {
            if !pcm.is_empty() {
                pcm.resize(pcm.len().next_multiple_of(frame), 0);
            }
            drain_packets(&mut enc, &mut pcm, frame, &mut pcm_at, &mut out)?;
            pcm.clear();
        }
        if pcm.is_empty() {
            pcm_at = s.at_90k;
        }
        expected_next = Some(s.at_90k + u64::from(s.duration_90k));
        let e = &entries[s.entry];
        match e.codec {
            Codec::Pcmu | Codec::Pcma => {
                let law = if e.codec == Codec::Pcmu { media::g711::Law::Mu } else { media::g711::Law::A };
                pcm.extend(b.iter().step_by(channels).map(|&x| law.decode(x)));
            }
            Codec::L16 => {
                pcm.extend(b.chunks_exact(2 * channels).map(|c| i16::from_be_bytes([c[0], c[1]])));
            }
            other => bail!(Internal, "{} is not converted to Opus", other.as_str()),
        }
        drain_packets(&mut enc, &mut pcm, frame, &mut pcm_at, &mut out)?;
    }
    if !pcm.is_empty() {
        pcm.resize(frame, 0);
        drain_packets(&mut enc, &mut pcm, frame, &mut pcm_at, &mut out)?;
    }
    if out.is_empty() {
        return Ok(None);
    }
    let entry = media::mp4::audio::opus_entry(1, pre_skip as u16, 48_000);
    Ok(Some(AudioTrack { entries: vec![entry], timescale: 48_000, samples: out }))
}

/// Encodes every whole 20 ms packet waiting in `pcm`, placed from `at`.
fn drain_packets(
    enc: &mut opus::Encoder,
    pcm: &mut Vec<i16>,
    frame: usize,
    at: &mut u64,
    out: &mut Vec<AudioSample>,
) -> Result<(), Error> {
    let mut used = 0;
    while pcm.len() - used >= frame {
        let packet =
            enc.encode_vec(&pcm[used..used + frame], 1275).map_err(|e| Error::wrap(ErrorKind::Internal, "Opus", e))?;
        out.push(AudioSample { at_90k: *at, duration_90k: 1800, entry: 0, bytes: Piece::Bytes(packet) });
        *at += 1800;
        used += frame;
    }
    pcm.drain(..used);
    Ok(())
}
