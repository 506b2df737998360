// The operator's agency desk (design/agencies.md): applications to verify out of band (call
// the agency's public switchboard, have them read out their key's fingerprint, type it
// here: the server refuses a fingerprint that is not the agency's key), rejections, and
// legal demands, which go into the public transparency log with what could be produced.
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { type Agency, agencies } from '../api';
import { Feedback, message, useAction } from './common';

export function Agencies() {
  const [list, setList] = useState<Agency[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => agencies.all().then(setList, (e: unknown) => setError(message(e))), []);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section aria-labelledby="agencies-title" className="nb">
      <h1 id="agencies-title">Agencies</h1>
      <Feedback error={error} />
      {list === null ? (
        <p aria-busy="true">Loading…</p>
      ) : list.length === 0 ? (
        <p className="muted">No agency has applied.</p>
      ) : (
        <ol className="posts" aria-label="Agencies">
          {list.map((a) => (
            <AgencyItem key={a.id} a={a} onDone={() => void load()} />
          ))}
        </ol>
      )}
      <LegalDemand />
    </section>
  );
}

function AgencyItem(p: { a: Agency; onDone: () => void }) {
  const a = p.a;
  const [fingerprint, setFingerprint] = useState('');
  const [statement, setStatement] = useState('');
  const [reason, setReason] = useState('');
  const [run, error, busy] = useAction();
  const verify = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await agencies.verify(a.id, fingerprint, statement);
      p.onDone();
    });
  };
  return (
    <li className="card post" data-agency={a.id}>
      <p>
        <strong>{a.name}</strong> · {a.jurisdiction} · {a.status}
      </p>
      <p className="muted">
        <a href={a.website} rel="noreferrer noopener" target="_blank">
          {a.website}
        </a>{' '}
        · {a.phone}
      </p>
      {a.status === 'applied' && (
        <>
          <form onSubmit={verify} aria-label={`Verify ${a.name}`}>
            <p className="muted">
              Call the number published on the agency's own website (not only the one above), and ask them to read out the fingerprint
              their portal shows.
            </p>
            <label className="field">
              <span>Fingerprint they read out</span>
              <input value={fingerprint} onChange={(e) => setFingerprint(e.target.value)} required autoComplete="off" spellCheck={false} />
            </label>
            <label className="field">
              <span>How you checked (published in the log)</span>
              <input value={statement} onChange={(e) => setStatement(e.target.value)} required minLength={10} maxLength={500} />
            </label>
            <button type="submit" disabled={busy}>
              Verify and publish
            </button>
          </form>
          <label className="field">
            <span>Reason to reject</span>
            <input value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <button
            onClick={() =>
              void run(async () => {
                await agencies.reject(a.id, reason);
                p.onDone();
              })
            }
            disabled={busy || reason.trim().length < 3}
          >
            Reject
          </button>
        </>
      )}
      {a.status === 'verified' && <p className="muted">Key {a.fingerprint} · log entry {a.log_index}</p>}
      {a.status === 'rejected' && <p className="muted">Rejected: {a.rejected_reason}</p>}
      <Feedback error={error} />
    </li>
  );
}

function LegalDemand() {
  const [d, setD] = useState({ authority: '', reference: '', demanded: '', produced: 'Ciphertext and object metadata only: the server cannot open footage.' });
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  const set = (k: keyof typeof d) => (e: { target: { value: string } }) => setD({ ...d, [k]: e.target.value });
  return (
    <form
      className="card"
      aria-label="Record a legal demand"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const r = await agencies.legalDemand(d);
          setOk(`Published as log entry ${r.log_index}.`);
        });
      }}
    >
      <h2>Record a legal demand</h2>
      <p className="muted">Every demand on this server's operator is published. There is no other path to anyone's footage.</p>
      <label className="field">
        <span>Authority</span>
        <input value={d.authority} onChange={set('authority')} required />
      </label>
      <label className="field">
        <span>Reference</span>
        <input value={d.reference} onChange={set('reference')} required />
      </label>
      <label className="field">
        <span>What was demanded</span>
        <textarea value={d.demanded} onChange={set('demanded')} required />
      </label>
      <label className="field">
        <span>What could be produced</span>
        <textarea value={d.produced} onChange={set('produced')} required />
      </label>
      <button type="submit" disabled={busy}>
        Publish
      </button>
      <Feedback error={error} ok={ok} />
    </form>
  );
}
