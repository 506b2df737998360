// The public transparency page (no account needed; design/transparency-log.md): every
// entry of the log, checked here to hash to the server's signed tree head, and per-agency
// figures computed from the entries themselves, so that anyone can recompute them.
import { useEffect, useState } from 'react';
import { type TreeHead, allEntries, hex, latestHead } from '../tlog';
import { message } from './common';

const when = (ms: number) => new Date(ms).toLocaleString();
const SQ_MI = 2_589_988.110336;

interface Rec {
  kind: string;
  time_ms: number;
  [k: string]: unknown;
}

interface Stats {
  name: string;
  verified_ms: number | null;
  requests: number;
  byCategory: Map<string, number>;
  areaSqMi: number;
  hours: number;
  offered: number;
  answers: number;
  clips: number;
  minutes: number;
}

export function statsOf(records: Rec[]): Map<string, Stats> {
  const s = new Map<string, Stats>();
  const of = (id: string, name = '') => {
    let x = s.get(id);
    if (!x) {
      x = { name, verified_ms: null, requests: 0, byCategory: new Map(), areaSqMi: 0, hours: 0, offered: 0, answers: 0, clips: 0, minutes: 0 };
      s.set(id, x);
    }
    return x;
  };
  for (const r of records) {
    if (r.kind === 'agency_verified') {
      const x = of(r.agency_id as string, r.name as string);
      x.name = r.name as string;
      x.verified_ms = r.time_ms;
    } else if (r.kind === 'request_made') {
      const x = of(r.agency_id as string, r.agency as string);
      x.requests++;
      x.byCategory.set(r.category as string, (x.byCategory.get(r.category as string) ?? 0) + 1);
      x.areaSqMi += (r.area_m2 as number) / SQ_MI;
      x.hours += ((r.window_until_ms as number) - (r.window_from_ms as number)) / 3_600_000;
      x.offered += r.households_offered as number;
    } else if (r.kind === 'grant_made') {
      const x = of(r.agency_id as string);
      x.answers++;
      x.clips += r.clips as number;
      x.minutes += (r.duration_ms as number) / 60_000;
    }
  }
  return s;
}

export function Transparency() {
  const [head, setHead] = useState<TreeHead | null>(null);
  const [records, setRecords] = useState<{ index: number; body: string; rec: Rec }[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    (async () => {
      const h = await latestHead();
      const entries = await allEntries(h);
      setHead(h);
      setRecords(entries.map((e) => ({ index: e.index, body: e.body, rec: JSON.parse(e.body) as Rec })));
    })().catch((e: unknown) => setError(message(e)));
  }, []);
  const stats = records ? statsOf(records.map((r) => r.rec)) : null;
  return (
    <main>
      <section aria-labelledby="tl-title" className="nb">
        <h1 id="tl-title">Transparency log</h1>
        <p>
          Every agency this server verified, every footage request, every answer (as counts: never who) and every legal demand on its
          operator, in an append-only log anyone can check with <code>porchlight verify-log</code>.
        </p>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        {head && (
          <p role="status" data-testid="log-verified">
            Checked in this browser: {head.size} entries hash to the head signed by key {hex(head.logKey).slice(0, 16)}… at{' '}
            {when(head.timestampMs)}.
          </p>
        )}
        {stats && (
          <table aria-label="Agencies" className="stack">
            <thead>
              <tr>
                <th>Agency</th>
                <th>Requests</th>
                <th>By offence</th>
                <th>Area (sq mi)</th>
                <th>Hours of footage asked for</th>
                <th>Households offered</th>
                <th>Answers</th>
                <th>Clips shared</th>
                <th>Minutes shared</th>
              </tr>
            </thead>
            <tbody>
              {[...stats.entries()].map(([id, x]) => (
                <tr key={id} data-agency={id}>
                  <td data-label="Agency">{x.name}</td>
                  <td data-label="Requests" data-stat="requests">{x.requests}</td>
                  <td data-label="By offence">{[...x.byCategory].map(([c, n]) => `${c.replace(/_/g, ' ')}: ${n}`).join(', ')}</td>
                  <td data-label="Area (sq mi)">{x.areaSqMi.toFixed(3)}</td>
                  <td data-label="Hours of footage asked for">{x.hours.toFixed(1)}</td>
                  <td data-label="Households offered" data-stat="offered">{x.offered}</td>
                  <td data-label="Answers" data-stat="answers">{x.answers}</td>
                  <td data-label="Clips shared" data-stat="clips">{x.clips}</td>
                  <td data-label="Minutes shared" data-stat="minutes">{x.minutes.toFixed(1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {records && (
          <ol aria-label="Entries" reversed>
            {[...records].reverse().map((r) => (
              <li key={r.index} data-kind={r.rec.kind}>
                <strong>#{r.index}</strong> {r.rec.kind.replace(/_/g, ' ')} · {when(r.rec.time_ms)}
                <pre>{r.body}</pre>
              </li>
            ))}
          </ol>
        )}
      </section>
    </main>
  );
}
