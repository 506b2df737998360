import { useEffect, useState } from 'react';
import { type CameraStatus, type EventJson, api } from '../api';
import type { Keyring } from '../crypto/format';
import { EMPTY, type Loaded, modeEffect, recordsFor } from '../settings';
import { MODE_NAMES, ModeSwitch, useSettings } from './Cameras';
import { LiveGrid, useStill } from './Grid';
import { Live } from './Live';
import { Snapshot, ago, useAsync } from './common';

interface Card {
  camera: string;
  latest: EventJson | null;
  status: CameraStatus | null;
}

/** Every camera: its latest snapshot, what it is doing, one tap to its timeline. */
/** `watch`: a camera to open live at once (an alert's "Watch live"). */
export function Home(p: { householdId: string; keys: Keyring; isOwner: boolean; canTalk?: boolean; watch?: string | null }) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((x) => x + 1);
    const t = setInterval(bump, 10_000);
    // A new event (Notifications dispatches them) brings its camera's latest snapshot.
    addEventListener('porchlight:event', bump);
    return () => {
      clearInterval(t);
      removeEventListener('porchlight:event', bump);
    };
  }, []);
  const cards = useAsync(async () => {
    const [h, status] = await Promise.all([api.household(p.householdId), api.cameraStatus(p.householdId)]);
    const names = [...new Set([...h.cameras, ...status.map((s) => s.camera)])].sort();
    return Promise.all(
      names.map(async (camera): Promise<Card> => {
        const [latest] = await api.events(p.householdId, { camera, order: 'desc', limit: 1 });
        return { camera, latest: latest ?? null, status: status.find((s) => s.camera === camera) ?? null };
      }),
    );
  }, [p.householdId, tick]);
  const [saved, setSaved] = useState(0);
  const settings = useSettings(p.householdId, p.keys, tick + saved * 1000);
  const loaded: Loaded | null = settings.value;
  const label = (camera: string) => loaded?.settings.cameras[camera]?.label ?? camera;
  // What the agents obey: the owner's settings, or before any, Home with the defaults.
  const effective = settings.error ? null : (loaded?.settings ?? (settings.value === null ? EMPTY : null));
  const [watching, setWatching] = useState<string | null>(p.watch ?? null);
  const [grid, setGrid] = useState(false);

  if (cards.error) return <p role="alert">{cards.error}</p>;
  if (!cards.value) return <p aria-busy="true">Loading cameras…</p>;
  if (cards.value.length === 0) {
    return (
      <section>
        <h1>Cameras</h1>
        <p>
          No camera has sent anything yet. Pair an agent under <a href="#/settings">Settings</a>.
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Cameras</h1>
      {settings.error && /not sealed for your keys/.test(settings.error) ? (
        <p className="muted" data-testid="mode">
          The household’s mode is not shared with your keys yet; the owner’s app shares it the next time it opens.
        </p>
      ) : settings.error ? (
        <p role="alert">The household settings cannot be opened: {settings.error}</p>
      ) : (
        <ModeSwitch hid={p.householdId} keys={p.keys} loaded={loaded} isOwner={p.isOwner} onSaved={() => setSaved((x) => x + 1)} />
      )}
      {cards.value.some((c) => c.status?.online) && !grid && (
        <button type="button" className="grid-button" onClick={() => setGrid(true)}>
          Watch every camera live
        </button>
      )}
      {grid && (
        <LiveGrid
          householdId={p.householdId}
          keys={p.keys}
          cameras={cards.value.filter((c) => c.status?.online).map((c) => ({ camera: c.camera, label: label(c.camera) }))}
          onClose={() => setGrid(false)}
        />
      )}
      <ul className="cards">
        {cards.value.map((c) => (
          <li key={c.camera}>
            <a className="card" href={`#/timeline?camera=${encodeURIComponent(c.camera)}`} aria-label={`${label(c.camera)}: open its timeline`}>
              <div className="card-media">
                <Picture householdId={p.householdId} camera={c.camera} keys={p.keys} online={!!c.status?.online} snapshot={c.latest?.snapshot_object ?? null} label={label(c.camera)} />
                <span className="card-title">{label(c.camera)}</span>
              </div>
              <State s={c.status} records={effective ? recordsFor(effective, c.camera, c.status) : null} />
              {effective && (
                <span className="mode-effect" data-testid={`effect-${c.camera}`}>
                  {modeEffect(effective, c.camera, c.status, MODE_NAMES[effective.mode])}
                </span>
              )}
              <span className="muted">{c.latest ? `Last event ${ago(c.latest.start_ms)}` : 'No events yet'}</span>
            </a>
            <div className="card-actions">
              <button type="button" className="live-button" onClick={() => setWatching(c.camera)} disabled={!c.status?.online}>
                Watch {label(c.camera)} live
              </button>
              <a className="button" href={`#/day?camera=${encodeURIComponent(c.camera)}`} aria-label={`${label(c.camera)}: the whole day`}>
                Day view
              </a>
            </div>
          </li>
        ))}
      </ul>
      {watching && (
        <Live
          householdId={p.householdId}
          camera={watching}
          label={label(watching)}
          keys={p.keys}
          canTalk={p.canTalk}
          speaker={cards.value.find((c) => c.camera === watching)?.status?.speaker ?? null}
          onClose={() => setWatching(null)}
        />
      )}
    </section>
  );
}

/** The camera's picture now from its agent (refreshed while the screen is open), else its last event's snapshot. */
function Picture(p: { householdId: string; camera: string; keys: Keyring; online: boolean; snapshot: string | null; label: string }) {
  const still = useStill(p.householdId, p.camera, p.keys, p.online);
  if (still) {
    return (
      <div className="thumb">
        <img src={still} alt={`${p.label} now`} data-testid={`still-${p.camera}`} />
      </div>
    );
  }
  return <Snapshot id={p.snapshot} keys={p.keys} alt={`Latest snapshot from ${p.label}`} />;
}

/** A moment as people say it: the time today, else the day and the time. */
function when(ms: number): string {
  const d = new Date(ms);
  const time = d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })}, ${time}`;
}

function State({ s, records }: { s: CameraStatus | null; records: boolean | null }) {
  if (!s) return <span className="state unknown">Status unknown</span>;
  const full = new Date(s.online ? s.since_ms : s.reported_ms).toLocaleString();
  if (!s.online)
    return (
      <span className="state offline" title={full}>
        Offline since {when(s.reported_ms)}
      </span>
    );
  if (records === false) return <span className="state unknown">Connected, not recording</span>;
  if (s.state === 'streaming')
    return (
      <span className="state ok" title={full}>
        Recording since {when(s.since_ms)}
      </span>
    );
  return (
    <span className="state warn" title={full}>
      {s.state === 'retrying' ? 'Reconnecting' : s.state} since {when(s.since_ms)}
    </span>
  );
}
