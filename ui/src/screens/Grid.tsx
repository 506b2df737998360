// Every camera live at once, from their sub-streams (a quarter of the pixels each), and
// each camera's picture now for the cards: both from the agents, sealed for this browser.
import { useEffect, useRef, useState } from 'react';
import type { Keyring } from '../crypto/format';
import { fetchStill, watchLive } from '../live';
import { useReconnect } from './common';
import { ClipPlayer } from '../mse';

/** The camera's latest picture from its agent, refreshed every `everyMs` while the page is visible. */
export function useStill(householdId: string, camera: string, keys: Keyring, online: boolean, everyMs = 15_000): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!online) return;
    let live = true;
    let current: string | null = null;
    const abort = new AbortController();
    const get = async () => {
      if (document.visibilityState !== 'visible') return;
      try {
        const jpeg = await fetchStill(householdId, camera, keys, abort.signal);
        if (!live || !jpeg) return;
        const next = URL.createObjectURL(new Blob([jpeg as BlobPart], { type: 'image/jpeg' }));
        if (current) URL.revokeObjectURL(current);
        current = next;
        setUrl(next);
      } catch {
        // The last picture stays; the next round tries again.
      }
    };
    void get();
    const t = setInterval(() => void get(), everyMs);
    return () => {
      live = false;
      clearInterval(t);
      abort.abort();
      if (current) URL.revokeObjectURL(current);
    };
  }, [householdId, camera, keys, online, everyMs]);
  return url;
}

function Tile(p: { householdId: string; camera: string; label: string; keys: Keyring; startedAt: number; onFirst: (camera: string, ms: number) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<'connecting' | 'live' | string>('connecting');
  const { attempt, reconnect } = useReconnect();
  const { householdId, camera, keys, startedAt, onFirst } = p;
  useEffect(() => {
    const v = video.current!;
    const player = new ClipPlayer(v, true);
    const abort = new AbortController();
    let played = false;
    const shown = () => {
      played = true;
      setState('live');
      onFirst(camera, Math.round(performance.now() - startedAt));
    };
    v.addEventListener('playing', shown, { once: true });
    // A tile that played and ended is asked for again by itself, a few times a minute.
    const ended = (message: string) => {
      if (!played || !reconnect()) setState(message);
    };
    watchLive(householdId, camera, keys, (seg) => player.push(seg), abort.signal, true).then(
      () => ended('The live stream ended.'),
      (e: Error) => e.name !== 'AbortError' && ended(e.message),
    );
    return () => {
      v.removeEventListener('playing', shown);
      abort.abort();
      player.release();
    };
  }, [householdId, camera, keys, startedAt, onFirst, attempt, reconnect]);
  return (
    <figure className="tile" data-testid={`tile-${camera}`} data-state={state === 'live' || state === 'connecting' ? state : 'ended'}>
      <video ref={video} autoPlay muted playsInline aria-label={`Live video from ${p.label}`} />
      <figcaption>
        {p.label} {state === 'live' ? <span className="live-dot">● live</span> : state === 'connecting' ? <span className="muted">connecting…</span> : <span role="alert">{state}</span>}
      </figcaption>
    </figure>
  );
}

/** The live grid: one tile per camera; `data-all-ms` says when every tile showed its first frame. */
export function LiveGrid(p: { householdId: string; keys: Keyring; cameras: { camera: string; label: string }[]; onClose: () => void }) {
  const [startedAt] = useState(() => performance.now());
  const [firsts, setFirsts] = useState<Record<string, number>>({});
  const [onFirst] = useState(() => (camera: string, ms: number) => setFirsts((f) => (camera in f ? f : { ...f, [camera]: ms })));
  const all = p.cameras.every((c) => c.camera in firsts) ? Math.max(...p.cameras.map((c) => firsts[c.camera]!)) : null;
  return (
    <section className="grid-view" aria-label="Every camera live" data-testid="live-grid" data-all-ms={all ?? ''}>
      <div className="row">
        <h2>Every camera, live</h2>
        <button type="button" onClick={p.onClose}>
          Close the grid
        </button>
      </div>
      <div className={`tiles n${Math.min(p.cameras.length, 4)}`}>
        {p.cameras.map((c) => (
          <Tile key={c.camera} householdId={p.householdId} camera={c.camera} label={c.label} keys={p.keys} startedAt={startedAt} onFirst={onFirst} />
        ))}
      </div>
      <p className="muted">Sub-streams, encrypted between each camera’s agent and this browser.</p>
    </section>
  );
}
