// The whole day of one camera's continuous recording: the recorded runs and the gaps on a
// bar, the day's events as markers, a day picker, and play from any moment. The footage
// comes from the agent on demand (live.ts `askHistory`), sealed for this browser; the
// agent answers only inside the member's footage window.
import { type KeyboardEvent, type MouseEvent, useEffect, useMemo, useRef, useState } from 'react';
import { type EventJson, api } from '../api';
import type { Keyring } from '../crypto/format';
import { type HistoryReply, askHistory } from '../live';
import { ClipPlayer } from '../mse';
import { useCameraNames } from '../names';
import { message, useAsync } from './common';

const DAY_MS = 86_400_000;
/** The bar zoomed: two hours around a moment. */
const ZOOM_MS = 2 * 3_600_000;

/** Local midnight of `day` (YYYY-MM-DD), or of today. */
function dayStart(day: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const d = m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function isoDay(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

type Playing =
  | { kind: 'asking'; asked: number; clickedAt: number }
  | { kind: 'playing'; asked: number; start: number; end: number; clickedAt: number; firstFrameMs: number | null }
  | { kind: 'failed'; asked: number; message: string };

export function DayView(p: { householdId: string; keys: Keyring; camera: string; day: string }) {
  const name = useCameraNames(p.householdId, p.keys);
  const cams = useAsync(async () => {
    const [h, st] = await Promise.all([api.household(p.householdId), api.cameraStatus(p.householdId)]);
    return [...new Set([...h.cameras, ...st.map((s) => s.camera)])].sort();
  }, [p.householdId]);
  const camera = p.camera || cams.value?.[0] || '';
  const from = dayStart(p.day);
  const until = from + DAY_MS;
  // Today's end, once per visit (render stays pure).
  const [today] = useState(() => isoDay(Date.now()));
  const go = (camera: string, day: string) => (location.hash = `/day?camera=${encodeURIComponent(camera)}&day=${day}`);

  const [runs, setRuns] = useState<HistoryReply['runs'] | null>(null);
  const [runsError, setRunsError] = useState<string | null>(null);
  useEffect(() => {
    if (!camera) return;
    // (The screen is re-made for each camera and day: App keys it so.)
    const abort = new AbortController();
    askHistory(p.householdId, camera, p.keys, { from_ms: from, until_ms: until }, () => {}, abort.signal).then(
      ({ reply }) => {
        setRuns(reply.runs);
        if (reply.error) setRunsError(reply.error);
      },
      (e) => !abort.signal.aborted && setRunsError(message(e)),
    );
    return () => abort.abort();
  }, [p.householdId, p.keys, camera, from, until]);
  const events = useAsync(
    () => (camera ? api.events(p.householdId, { camera, from_ms: from, until_ms: until, order: 'asc', limit: 500 }) : Promise.resolve([] as EventJson[])),
    [p.householdId, camera, from, until],
  );

  const video = useRef<HTMLVideoElement>(null);
  const [playing, setPlaying] = useState<Playing | null>(null);
  const [now, setNow] = useState<number | null>(null);
  const asked = playing?.asked ?? null;
  useEffect(() => {
    if (asked === null || !camera) return;
    const v = video.current!;
    const abort = new AbortController();
    const player = new ClipPlayer(v, false, false);
    const clickedAt = performance.now();
    let start = 0;
    const seek = () => {
      if (v.readyState >= 1 && v.currentTime === 0 && asked > start) v.currentTime = (asked - start) / 1000;
      void v.play().catch(() => {});
    };
    const shown = () =>
      setPlaying((s) => (s && s.kind === 'playing' && s.asked === asked && s.firstFrameMs === null ? { ...s, firstFrameMs: Math.round(performance.now() - clickedAt) } : s));
    v.addEventListener('loadedmetadata', seek);
    v.addEventListener('playing', shown, { once: true });
    (async () => {
      try {
        const { reply, done } = await askHistory(p.householdId, camera, p.keys, { from_ms: from, until_ms: until, play_ms: asked }, (b) => player.push(b), abort.signal);
        if (!reply.play) {
          setPlaying({ kind: 'failed', asked, message: reply.error ?? 'Nothing was recorded then.' });
          return;
        }
        start = reply.play.start_ms;
        setPlaying({ kind: 'playing', asked, start, end: reply.play.end_ms, clickedAt, firstFrameMs: null });
        await done;
        player.finish();
      } catch (e) {
        if (!abort.signal.aborted) setPlaying({ kind: 'failed', asked, message: message(e) });
      }
    })();
    return () => {
      abort.abort();
      v.removeEventListener('loadedmetadata', seek);
      v.removeEventListener('playing', shown);
      player.abort();
    };
  }, [asked, camera, from, until, p.householdId, p.keys]);

  const play = (ms: number) => setPlaying({ kind: 'asking', asked: Math.round(ms), clickedAt: performance.now() });
  const onTime = () => {
    if (playing?.kind !== 'playing') return;
    const v = video.current!;
    const t = playing.start + v.currentTime * 1000;
    setNow(t);
    // Near the end of this answer while the run goes on: ask for what follows.
    const inRun = runs?.some((r) => r.start_ms <= playing.end && r.end_ms > playing.end + 1000);
    if (inRun && v.duration > 0 && v.currentTime > v.duration - 0.5) play(playing.end);
  };
  // The bar shows the whole day, or two hours around a moment.
  const [zoom, setZoom] = useState<number | null>(null);
  const viewFrom = zoom === null ? from : Math.max(from, Math.min(until - ZOOM_MS, zoom - ZOOM_MS / 2));
  const viewSpan = zoom === null ? DAY_MS : ZOOM_MS;
  const inView = (a: number, b: number) => b > viewFrom && a < viewFrom + viewSpan;
  const bar = (e: MouseEvent<HTMLDivElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    play(viewFrom + ((e.clientX - r.left) / r.width) * viewSpan);
  };
  const keys = (e: KeyboardEvent<HTMLDivElement>) => {
    const step = e.shiftKey ? 600_000 : 60_000;
    const cur = now ?? asked ?? Date.now();
    if (e.key === 'ArrowRight') play(Math.min(until - 1, cur + step));
    else if (e.key === 'ArrowLeft') play(Math.max(from, cur - step));
  };
  const pct = (ms: number) => `${(Math.min(Math.max(ms - viewFrom, 0), viewSpan) / viewSpan) * 100}%`;
  // Labels: every three hours of the day, or every quarter of an hour zoomed in.
  const hours = useMemo(() => {
    const step = zoom === null ? 3 * 3_600_000 : 15 * 60_000;
    const first = zoom === null ? from : Math.ceil(viewFrom / step) * step;
    const out: { ms: number; label: string }[] = [];
    for (let ms = first; ms < viewFrom + viewSpan; ms += step) {
      out.push({ ms, label: new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false }) });
    }
    return out;
  }, [zoom, from, viewFrom, viewSpan]);
  const latest = runs?.length ? runs[runs.length - 1]!.end_ms : null;
  const recorded = (runs ?? []).reduce((a, r) => a + r.end_ms - r.start_ms, 0);

  if (cams.error) return <p role="alert">{cams.error}</p>;
  if (cams.value && cams.value.length === 0) return <p>No camera yet: pair an agent under Settings.</p>;
  return (
    <section className="dayview">
      <h1>Day view</h1>
      <form className="filters" aria-label="Camera and day" onSubmit={(e) => e.preventDefault()}>
        <label>
          Camera{' '}
          <select value={camera} onChange={(e) => go(e.target.value, isoDay(from))}>
            {(cams.value ?? []).map((c) => (
              <option key={c} value={c}>
                {name(c)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => go(camera, isoDay(from - DAY_MS / 2))}>
          ‹ Day before
        </button>
        <label>
          Day <input type="date" value={isoDay(from)} max={today} onChange={(e) => e.target.value && go(camera, e.target.value)} />
        </label>
        <button type="button" onClick={() => go(camera, isoDay(until + DAY_MS / 2))} disabled={isoDay(from) >= today}>
          Day after ›
        </button>
      </form>
      <div className="daybar-wrap">
        <div
          className="daybar"
          role="slider"
          tabIndex={0}
          aria-label={`The day of ${name(camera)}: click a moment to play it`}
          aria-valuemin={from}
          aria-valuemax={until}
          aria-valuenow={now ?? asked ?? from}
          aria-valuetext={now ?? asked ? clock(now ?? asked!) : 'nothing playing'}
          onClick={bar}
          onKeyDown={keys}
          data-testid="daybar"
          data-runs={runs?.length ?? -1}
        >
          {(runs ?? [])
            .filter((r) => inView(r.start_ms, r.end_ms))
            .map((r) => (
            <span key={r.start_ms} className="run" style={{ left: pct(r.start_ms), width: `calc(${pct(r.end_ms)} - ${pct(r.start_ms)})` }} title={`Recorded ${clock(r.start_ms)} – ${clock(r.end_ms)}`} />
          ))}
          {(events.value ?? [])
            .filter((e) => inView(e.start_ms, e.start_ms + 1))
            .map((e) => (
            <span key={e.id} className="marker" style={{ left: pct(e.start_ms) }} title={`Event at ${clock(e.start_ms)}`} />
          ))}
          {(now ?? asked) !== null && <span className="cursor" style={{ left: pct((now ?? asked)!) }} />}
        </div>
        <div className="hours" aria-hidden="true">
          {hours.map(({ ms, label }) => (
            <span key={ms} style={{ left: pct(ms) }}>
              {label}
            </span>
          ))}
        </div>
      </div>
      <div className="row">
        {zoom === null ? (
          <button type="button" onClick={() => setZoom(now ?? asked ?? latest ?? from + DAY_MS / 2)} disabled={runs === null}>
            Zoom to two hours
          </button>
        ) : (
          <button type="button" onClick={() => setZoom(null)}>
            Whole day
          </button>
        )}
      </div>
      <p className="muted" data-testid="day-summary">
        {runs === null && !runsError
          ? 'Asking the camera hub what it recorded…'
          : runsError
            ? `The camera hub did not list this day: ${runsError}`
            : runs!.length === 0
              ? 'Nothing recorded on this day (or none you may see).'
              : `Recorded ${Math.round(recorded / 60_000)} min in ${runs!.length} stretch${runs!.length === 1 ? '' : 'es'}; ${events.value?.length ?? 0} events. Click the bar, or use ← → (Shift: 10 min).`}
      </p>
      {(events.value ?? []).length > 0 && (
        <ul className="day-events" aria-label="Events of the day">
          {(events.value ?? []).map((e) => (
            <li key={e.id}>
              <button type="button" className="link" onClick={() => play(e.start_ms - 2000)}>
                {clock(e.start_ms)}
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="day-player">
        <video ref={video} controls muted playsInline onTimeUpdate={onTime} aria-label={`Recording of ${name(camera)}`} data-testid="day-video" />
        <p aria-live="polite" data-testid="day-status" data-first-frame-ms={playing?.kind === 'playing' ? (playing.firstFrameMs ?? '') : ''} data-start-ms={playing?.kind === 'playing' ? playing.start : ''}>
          {playing === null
            ? 'Pick a moment on the bar.'
            : playing.kind === 'asking'
              ? `Asking for ${clock(playing.asked)}…`
              : playing.kind === 'failed'
                ? `Cannot play ${clock(playing.asked)}: ${playing.message}`
                : `${name(camera)} at ${clock(now ?? playing.asked)}`}
        </p>
      </div>
    </section>
  );
}
