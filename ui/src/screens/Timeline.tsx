import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { type EventJson, api } from '../api';
import type { Keyring } from '../crypto/format';
import { useCameraNames } from '../names';
import { type EventMeta, openMeta, titleOf } from '../objects';
import { Player } from './Player';
import { Snapshot, useAsync } from './common';

const PAGE = 200;
const ROW = 84;
const DAY = 40;
const META_PARALLEL = 6;

type Row = { kind: 'day'; label: string; key: string } | { kind: 'event'; e: EventJson; key: string };

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
const dayLabels = new Map<number, string>();

/** The local day's heading; formatted once per day (formatting is slow, and 10,000 rows share a few hundred days). */
function dayLabel(ms: number): string {
  const d = new Date(ms);
  const key = d.getFullYear() * 10_000 + d.getMonth() * 100 + d.getDate();
  let l = dayLabels.get(key);
  if (l === undefined) {
    l = dayFormat.format(d);
    dayLabels.set(key, l);
  }
  return l;
}

/**
 * Events newest first, grouped by day, filtered by camera (on the server) and by label
 * and zone (here: they are inside the encrypted metadata). Rows are fixed-height and only
 * those on screen are in the DOM, so 10,000 events scroll like 10.
 */
export function Timeline(p: { householdId: string; keys: Keyring; camera: string }) {
  const [events, setEvents] = useState<EventJson[]>([]);
  const name = useCameraNames(p.householdId, p.keys);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [metas, setMetas] = useState<Map<string, EventMeta | Error>>(new Map());
  const [label, setLabel] = useState('');
  const [zone, setZone] = useState('');
  const [open, setOpen] = useState<EventJson | null>(null);
  const loading = useRef(false);
  const household = useAsync(() => api.household(p.householdId), [p.householdId]);

  // The paging cursor and the ids loaded, kept outside React state: a second call can
  // start before the first one's page has rendered.
  const cursor = useRef<{ oldest: number | undefined; ids: Set<string> }>({ oldest: undefined, ids: new Set() });
  const loadMore = useCallback(async () => {
    if (loading.current || done) return;
    loading.current = true;
    try {
      const c = cursor.current;
      const page = await api.events(p.householdId, {
        camera: p.camera || undefined,
        order: 'desc',
        limit: PAGE,
        until_ms: c.oldest === undefined ? undefined : c.oldest + 1,
      });
      const fresh = page.filter((e) => !c.ids.has(e.id));
      fresh.forEach((e) => c.ids.add(e.id));
      const last = page[page.length - 1];
      if (last) c.oldest = Math.min(c.oldest ?? last.start_ms, last.start_ms);
      if (fresh.length) setEvents((old) => [...old, ...fresh]);
      if (page.length < PAGE || fresh.length === 0) setDone(true);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      loading.current = false;
    }
  }, [done, p.householdId, p.camera]);

  useEffect(() => {
    // The first page; later ones come from scrolling.
    if (events.length === 0 && !done) void loadMore();
  }, [events.length, done, loadMore]);

  // New events arrive live (Notifications dispatches them).
  useEffect(() => {
    const f = (ev: Event) => {
      const e = (ev as CustomEvent<EventJson>).detail;
      if (p.camera && e.camera !== p.camera) return;
      if (cursor.current.ids.has(e.id)) {
        // An event in progress that finished (or moved on): the same row, its new
        // metadata opened again.
        setEvents((old) => old.map((x) => (x.id === e.id ? e : x)));
        setMetas((old) => {
          const next = new Map(old);
          next.delete(e.id);
          return next;
        });
        return;
      }
      cursor.current.ids.add(e.id);
      setEvents((old) => [e, ...old].sort((a, b) => b.start_ms - a.start_ms));
    };
    addEventListener('porchlight:event', f);
    return () => removeEventListener('porchlight:event', f);
  }, [p.camera]);

  const labels = useMemo(() => {
    const s = new Set<string>();
    metas.forEach((m) => !(m instanceof Error) && m.label && s.add(m.label));
    return [...s].sort();
  }, [metas]);
  const zones = useMemo(() => {
    const s = new Set<string>();
    metas.forEach((m) => !(m instanceof Error) && m.zones.forEach((z) => s.add(z)));
    return [...s].sort();
  }, [metas]);

  const shown = useMemo(() => {
    if (!label && !zone) return events;
    return events.filter((e) => {
      const m = metas.get(e.id);
      if (!m || m instanceof Error) return false;
      return (!label || m.label === label) && (!zone || m.zones.includes(zone));
    });
  }, [events, metas, label, zone]);

  const rows = useMemo(() => {
    const out: Row[] = [];
    let day = '';
    for (const e of shown) {
      const d = dayLabel(e.start_ms);
      if (d !== day) {
        out.push({ kind: 'day', label: d, key: `d${e.start_ms}` });
        day = d;
      }
      out.push({ kind: 'event', e, key: e.id });
    }
    return out;
  }, [shown]);
  const offsets = useMemo(() => {
    const o = new Array<number>(rows.length + 1);
    o[0] = 0;
    rows.forEach((r, i) => (o[i + 1] = o[i]! + (r.kind === 'day' ? DAY : ROW)));
    return o;
  }, [rows]);

  // Windowing against the page's own scroll.
  const list = useRef<HTMLOListElement>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  useEffect(() => {
    const f = () => {
      const el = list.current;
      if (!el) return;
      const top = -el.getBoundingClientRect().top;
      setView({ top, height: innerHeight });
    };
    f();
    addEventListener('scroll', f, { passive: true });
    addEventListener('resize', f);
    return () => {
      removeEventListener('scroll', f);
      removeEventListener('resize', f);
    };
  }, []);
  const total = offsets[rows.length]!;
  const first = Math.max(0, upper(offsets, view.top - 600) - 1);
  const last = Math.min(rows.length, upper(offsets, view.top + view.height + 600));
  useEffect(() => {
    // Near the end: fetch the next page.
    if (!done && view.top + view.height + 2000 > total) void loadMore();
  }, [view, total, done, loadMore]);

  // Decrypt metadata (labels, zones) in the background, a few at a time: the rows on
  // screen first, then the rest newest first (the label and zone filters need them all).
  // One loop at a time; results are merged in a few times a second, not per row.
  const want = useRef({ events, visible: [] as EventJson[], keys: p.keys, metas, cursor: 0, busy: false, alive: true });
  useEffect(() => {
    const w = want.current;
    if (w.events !== events) w.cursor = 0;
    w.events = events;
    w.keys = p.keys;
    w.metas = metas;
    w.visible = rows.slice(first, last).flatMap((r) => (r.kind === 'event' ? [r.e] : []));
  });
  useEffect(() => {
    const w = want.current;
    w.alive = true;
    return () => {
      w.alive = false;
    };
  }, []);
  useEffect(() => {
    const w = want.current;
    if (w.busy) return;
    w.busy = true;
    void (async () => {
      const got = new Map<string, EventMeta | Error>();
      const seen = new Set<string>();
      let flushed = performance.now();
      const flush = () => {
        if (got.size === 0 || !w.alive) return;
        const add = [...got];
        got.clear();
        setMetas((old) => new Map([...old, ...add]));
        flushed = performance.now();
      };
      for (;;) {
        const have = (e: EventJson) => w.metas.has(e.id) || seen.has(e.id);
        const batch = w.visible.filter((e) => !have(e)).slice(0, META_PARALLEL);
        while (batch.length < META_PARALLEL && w.cursor < w.events.length) {
          const e = w.events[w.cursor]!;
          if (!have(e) && !batch.includes(e)) batch.push(e);
          else w.cursor++;
        }
        if (batch.length === 0 || !w.alive) break;
        const keys = w.keys;
        await Promise.all(
          batch.map(async (e) => {
            try {
              got.set(e.id, await openMeta(e.meta_object, keys));
            } catch (err) {
              got.set(e.id, err as Error);
            }
            seen.add(e.id);
          }),
        );
        if (performance.now() - flushed > 150 || batch.some((e) => w.visible.includes(e))) flush();
      }
      flush();
      w.busy = false;
    })();
  }, [events, first, last, p.keys]);

  const cameras = household.value?.cameras ?? [];
  const pending = events.length - metas.size;
  return (
    <section>
      <h1>Timeline</h1>
      <form className="filters" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
        <label>
          Camera{' '}
          <select value={p.camera} onChange={(e) => (location.hash = `/timeline${e.target.value ? `?camera=${encodeURIComponent(e.target.value)}` : ''}`)}>
            <option value="">All cameras</option>
            {cameras.map((c) => (
              <option key={c} value={c}>
                {name(c)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label{' '}
          <select value={label} onChange={(e) => setLabel(e.target.value)}>
            <option value="">Any</option>
            {labels.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Zone{' '}
          <select value={zone} onChange={(e) => setZone(e.target.value)}>
            <option value="">Any</option>
            {zones.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        {(label || zone) && pending > 0 && <span className="muted">Decrypting labels of {pending} more events…</span>}
        <span className="muted" data-testid="event-count" data-count={events.length}>
          {events.length} {done ? '' : 'loaded so far'}
        </span>
      </form>
      {error && <p role="alert">{error}</p>}
      {events.length === 0 && done && <p>No events yet.</p>}
      <ol className="timeline" ref={list} style={{ height: total }} aria-label="Events, newest first">
        {rows.slice(first, last).map((r, i) => {
          const top = offsets[first + i]!;
          if (r.kind === 'day') {
            return (
              <li key={r.key} className="day" style={{ top }}>
                {r.label}
              </li>
            );
          }
          const m = metas.get(r.e.id);
          const meta = m && !(m instanceof Error) ? m : null;
          return (
            <li key={r.key} className="event" style={{ top }}>
              <button className="event-row" onClick={() => setOpen(r.e)} aria-label={`${meta ? titleOf(meta) : 'Event'} on ${name(r.e.camera)} at ${new Date(r.e.start_ms).toLocaleTimeString()}: play`}>
                <Snapshot id={r.e.snapshot_object ?? null} keys={p.keys} alt="" />
                <span className="event-text">
                  <strong>{meta ? titleOf(meta) : m instanceof Error ? 'Cannot open' : '…'}</strong>
                  {r.e.in_progress && (
                    <span className="in-progress" data-testid="in-progress">
                      going on now
                    </span>
                  )}
                  <span>
                    {name(r.e.camera)} · {new Date(r.e.start_ms).toLocaleTimeString()}
                    {r.e.in_progress ? '' : ` · ${Math.max(1, Math.round((r.e.end_ms - r.e.start_ms) / 1000))} s`}
                  </span>
                  {meta && meta.zones.length > 0 && <span className="muted">Zones: {meta.zones.join(', ')}</span>}
                </span>
              </button>
            </li>
          );
        })}
      </ol>
      {!done && <p aria-busy="true">Loading…</p>}
      {open && <Player event={open} keys={p.keys} householdId={p.householdId} cameraName={name(open.camera)} onClose={() => setOpen(null)} />}
    </section>
  );
}

/** The first index whose offset is greater than `y`. */
function upper(o: number[], y: number): number {
  let lo = 0;
  let hi = o.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (o[mid]! <= y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
