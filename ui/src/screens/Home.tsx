import { useEffect, useState } from 'react';
import { type CameraStatus, type EventJson, api } from '../api';
import type { Keyring } from '../crypto/format';
import { Snapshot, ago, useAsync } from './common';

interface Card {
  camera: string;
  latest: EventJson | null;
  status: CameraStatus | null;
}

/** Every camera: its latest snapshot, what it is doing, one tap to its timeline. */
export function Home(p: { householdId: string; keys: Keyring }) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 10_000);
    return () => clearInterval(t);
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
      <ul className="cards">
        {cards.value.map((c) => (
          <li key={c.camera}>
            <a className="card" href={`#/timeline?camera=${encodeURIComponent(c.camera)}`} aria-label={`${c.camera}: open its timeline`}>
              <Snapshot id={c.latest?.snapshot_object ?? null} keys={p.keys} alt={`Latest snapshot from ${c.camera}`} />
              <span className="card-title">{c.camera}</span>
              <State s={c.status} />
              <span className="muted">{c.latest ? `Last event ${ago(c.latest.start_ms)}` : 'No events yet'}</span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

function State({ s }: { s: CameraStatus | null }) {
  if (!s) return <span className="state unknown">Status unknown</span>;
  if (!s.online) return <span className="state offline">Offline since {new Date(s.reported_ms).toLocaleString()}</span>;
  if (s.state === 'streaming') return <span className="state ok">Recording since {new Date(s.since_ms).toLocaleString()}</span>;
  return <span className="state warn">{s.state === 'retrying' ? 'Reconnecting' : s.state} since {new Date(s.since_ms).toLocaleString()}</span>;
}
