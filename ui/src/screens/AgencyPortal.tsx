// The agency portal (design/agencies.md): an agency's account applies, reads out its key's
// fingerprint when the operator calls to verify it, then makes footage requests under the
// rules the server enforces, reads the answers (clips open here, with the agency's own key,
// through each owner's grant), and exports evidence that `porchlight verify-evidence`
// checks offline. Everything it asks for is public in the transparency log.
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { type Agency, CATEGORIES, type FootageRequest, type FootageResponse, agencies } from '../api';
import { hex, unhex, utf8 } from '../crypto/bytes';
import { type Keyring, edSign, sha256 } from '../crypto/format';
import { openWithGrant, parseGrant } from '../crypto/grant';
import { fetchSealed } from '../objects';
import { tar } from '../tar';
import { Feedback, message, useAction } from './common';

const when = (ms: number) => new Date(ms).toLocaleString();
const words = (c: string) => c.replace(/_/g, ' ');
const HOUR = 3_600_000;

export function AgencyPortal(p: { keys: Keyring }) {
  const [agency, setAgency] = useState<Agency | null>(null);
  const [requests, setRequests] = useState<FootageRequest[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const a = await agencies.mine();
      setAgency(a);
      if (a.status === 'verified') setRequests(await agencies.requests());
    } catch (e) {
      setError(message(e));
    }
  }, []);
  useEffect(() => {
    // Loading the agency once is a sync with the server.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void load();
  }, [load]);
  if (!agency) return <Feedback error={error} />;
  return (
    <section aria-labelledby="agency-title" className="nb">
      <h1 id="agency-title">{agency.name}</h1>
      <Feedback error={error} />
      {agency.status === 'applied' && (
        <div className="card">
          <p>
            Your application is waiting for the server's operator, who will call your public switchboard ({agency.phone}) to check it.
            When they do, read them this fingerprint of your agency's key:
          </p>
          <p className="code" data-testid="agency-fingerprint">
            {agency.fingerprint}
          </p>
          <p className="muted">Once verified, the verification and this key are published in the transparency log.</p>
        </div>
      )}
      {agency.status === 'rejected' && <p role="alert">The operator did not verify this agency: {agency.rejected_reason}</p>}
      {agency.status === 'verified' && (
        <>
          <p className="muted">
            Verified {agency.verified_ms ? when(agency.verified_ms) : ''} (transparency log entry {agency.log_index}). Residents see your
            requests only if their home is inside the area; you never learn who saw one, and answers come as a resident number unless
            the resident chooses otherwise.
          </p>
          <NewRequest onMade={() => void load()} />
          <NewAlert />
          <h2>Requests</h2>
          {requests && requests.length === 0 && <p className="muted">No requests yet.</p>}
          <ol className="posts" aria-label="Your requests">
            {requests?.map((r) => (
              <RequestItem key={r.id} r={r} agency={agency} keys={p.keys} />
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

/** The form's starting values: a window that ended an hour ago. */
function blankRequest(now: number) {
  return {
    case_number: '',
    category: 'burglary',
    description: '',
    investigator: '',
    lat: '',
    lon: '',
    radius_m: '300',
    from: local(now - 3 * HOUR),
    until: local(now - HOUR),
    days: '7',
  };
}

/** A `datetime-local` value for `ms` in local time. */
function local(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function NewRequest(p: { onMade: () => void }) {
  const [f, setF] = useState(() => blankRequest(Date.now()));
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const category = CATEGORIES.find((c) => c === f.category);
      if (!category) throw new Error(`Pick one of the listed offences, not ${JSON.stringify(f.category)}.`);
      const r = await agencies.request({
        case_number: f.case_number,
        category,
        description: f.description,
        investigator: f.investigator,
        area: { shape: 'circle', lat: Number(f.lat), lon: Number(f.lon), radius_m: Number(f.radius_m) },
        window_from_ms: new Date(f.from).getTime(),
        window_until_ms: new Date(f.until).getTime(),
        expires_ms: Date.now() + Number(f.days) * 24 * HOUR,
      });
      setOk(`Request made and published (log entry ${r.log_index}); ${r.households_offered} households are in the cells it touches.`);
      p.onMade();
    });
  };
  return (
    <form onSubmit={submit} aria-label="New footage request" className="card">
      <h2>Ask residents for footage</h2>
      <p className="muted">
        An area of 0.025 to 0.5 square miles, a window of 15 minutes to 12 hours that ended in the last 30 days, open for at most 14
        days; two requests per case.
      </p>
      <label className="field">
        <span>Case number</span>
        <input value={f.case_number} onChange={set('case_number')} required maxLength={64} />
      </label>
      <label className="field">
        <span>Offence</span>
        <select value={f.category} onChange={set('category')}>
          {CATEGORIES.map((c) => (
            <option key={c} value={c}>
              {words(c)}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>What happened (residents see this)</span>
        <textarea value={f.description} onChange={set('description')} required minLength={20} maxLength={2000} />
      </label>
      <label className="field">
        <span>Investigator and contact</span>
        <input value={f.investigator} onChange={set('investigator')} required maxLength={200} />
      </label>
      <fieldset>
        <legend>Area (a circle)</legend>
        <label className="field">
          <span>Centre latitude</span>
          <input value={f.lat} onChange={set('lat')} required inputMode="decimal" />
        </label>
        <label className="field">
          <span>Centre longitude</span>
          <input value={f.lon} onChange={set('lon')} required inputMode="decimal" />
        </label>
        <label className="field">
          <span>Radius (metres, 144 to 642)</span>
          <input value={f.radius_m} onChange={set('radius_m')} required inputMode="numeric" />
        </label>
      </fieldset>
      <label className="field">
        <span>Footage from</span>
        <input type="datetime-local" value={f.from} onChange={set('from')} required />
      </label>
      <label className="field">
        <span>Footage until</span>
        <input type="datetime-local" value={f.until} onChange={set('until')} required />
      </label>
      <label className="field">
        <span>Open for (days, 1 to 14)</span>
        <input value={f.days} onChange={set('days')} required inputMode="numeric" />
      </label>
      <button type="submit" disabled={busy}>
        Publish request
      </button>
      <Feedback error={error} ok={ok} />
    </form>
  );
}

function NewAlert() {
  const [f, setF] = useState({ body: '', lat: '', lon: '', radius_m: '1000', hours: '24' });
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  return (
    <form
      className="card"
      aria-label="Post a safety alert"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          await agencies.postAlert({
            body: f.body,
            lat: Number(f.lat),
            lon: Number(f.lon),
            radius_m: Number(f.radius_m),
            expires_ms: Date.now() + Number(f.hours) * HOUR,
          });
          setOk('Posted: shown as official in the neighbourhood feeds of the area.');
        });
      }}
    >
      <h2>Post a safety alert</h2>
      <label className="field">
        <span>Alert</span>
        <textarea value={f.body} onChange={set('body')} required minLength={10} maxLength={1000} />
      </label>
      <label className="field">
        <span>Alert centre latitude</span>
        <input value={f.lat} onChange={set('lat')} required inputMode="decimal" />
      </label>
      <label className="field">
        <span>Alert centre longitude</span>
        <input value={f.lon} onChange={set('lon')} required inputMode="decimal" />
      </label>
      <label className="field">
        <span>Alert radius (metres, 200 to 8000)</span>
        <input value={f.radius_m} onChange={set('radius_m')} required inputMode="numeric" />
      </label>
      <label className="field">
        <span>Shown for (hours, at most 168)</span>
        <input value={f.hours} onChange={set('hours')} required inputMode="numeric" />
      </label>
      <button type="submit" disabled={busy}>
        Post alert
      </button>
      <Feedback error={error} ok={ok} />
    </form>
  );
}

function RequestItem(p: { r: FootageRequest; agency: Agency; keys: Keyring }) {
  const r = p.r;
  const [responses, setResponses] = useState<FootageResponse[] | null>(null);
  const [playing, setPlaying] = useState<Map<string, string>>(new Map());
  const [ok, setOk] = useState<string | null>(null);
  const [run, error, busy] = useAction();
  const show = () => run(async () => setResponses(await agencies.responses(r.id)));
  const play = (objectId: string, grantHex: string) =>
    run(async () => {
      const { plaintext } = await openWithGrant(await fetchSealed(objectId), await parseGrant(unhex(grantHex)), p.keys);
      const url = URL.createObjectURL(new Blob([plaintext as Uint8Array<ArrayBuffer>], { type: 'video/mp4' }));
      setPlaying((m) => new Map(m).set(objectId, url));
    });
  const exportEvidence = () =>
    run(async () => {
      const archive = await buildEvidence(r, p.agency, p.keys);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([archive as Uint8Array<ArrayBuffer>], { type: 'application/x-tar' }));
      a.download = `evidence-${r.case_number.replace(/[^A-Za-z0-9-]/g, '_')}-${r.id.slice(0, 8)}.tar`;
      a.click();
      setOk('Evidence exported. Unpack it and run `porchlight verify-evidence` on the folder to check it.');
    });
  return (
    <li className="card post" data-request={r.id}>
      <p>
        <strong>{words(r.category)}</strong> · case {r.case_number} · log entry {r.log_index} {r.expired && <span className="muted">(expired)</span>}
      </p>
      <p className="post-body">{r.description}</p>
      <p className="muted">
        {when(r.window_from_ms)} to {when(r.window_until_ms)} · {r.area_sq_mi.toFixed(3)} sq mi · {r.households_offered} households offered ·
        open until {when(r.expires_ms)}
      </p>
      <button onClick={() => void show()} disabled={busy}>
        Answers
      </button>
      {responses && responses.length === 0 && <p className="muted">No answers yet.</p>}
      {responses && responses.length > 0 && (
        <>
          <ol aria-label="Answers">
            {responses.map((a) => (
              <li key={a.resident}>
                <strong>Resident {a.resident}</strong> {a.contact ? `· ${a.contact}` : '· anonymous'} · {a.clips.length} clip(s)
                <ul>
                  {a.clips.map((c) => (
                    <li key={c.object_id}>
                      {c.camera}, {when(c.start_ms)} ({Math.round((c.end_ms - c.start_ms) / 1000)} s){' '}
                      {playing.get(c.object_id) ? (
                        <video src={playing.get(c.object_id)} controls muted playsInline aria-label={`Clip from resident ${a.resident}`} />
                      ) : (
                        <button onClick={() => void play(c.object_id, c.grant)} disabled={busy}>
                          Play
                        </button>
                      )}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ol>
          <button onClick={() => void exportEvidence()} disabled={busy}>
            Export evidence
          </button>
        </>
      )}
      <Feedback error={error} ok={ok} />
    </li>
  );
}

/**
 * The evidence export (crates/porchlight/src/evidence.rs has the format and the check): the
 * clips, their sealed objects, and a manifest signed by the agency's key. The downloads come
 * first, so that the chain of custody the server returns with the export includes them.
 */
async function buildEvidence(r: FootageRequest, agency: Agency, keys: Keyring): Promise<Uint8Array> {
  const responses = await agencies.responses(r.id);
  const files: { path: string; bytes: Uint8Array }[] = [];
  const clips = [];
  for (const a of responses) {
    for (const c of a.clips) {
      const sealed = await fetchSealed(c.object_id);
      const { header, key, plaintext } = await openWithGrant(sealed, await parseGrant(unhex(c.grant)), keys);
      const mp4 = `clips/resident-${a.resident}-${c.object_id}.mp4`;
      const sp = `sealed/${c.object_id}.plob`;
      files.push({ path: mp4, bytes: plaintext }, { path: sp, bytes: sealed });
      clips.push({
        resident: a.resident,
        grant_log_index: a.log_index,
        object_id: c.object_id,
        camera: header.camera,
        start_ms: header.startMs,
        end_ms: header.endMs,
        mp4,
        sealed: sp,
        grant: c.grant,
        content_key: hex(key),
      });
    }
  }
  const e = await agencies.exportEvidence(r.id);
  const listed = [];
  for (const f of files) listed.push({ path: f.path, sha256: hex(await sha256(f.bytes)), size: f.bytes.length });
  const manifest = {
    format: 'porchlight-evidence/1',
    exported_ms: Date.now(),
    server: location.origin,
    agency: { id: agency.id, name: agency.name, public_keys: agency.public_keys },
    request: e.request,
    log: { log_key: e.log_key, head: e.head, agency_entry: e.agency_entry, request_entry: e.request_entry, grant_entries: e.grant_entries },
    clips,
    custody: e.custody,
    files: listed,
  };
  const bytes = utf8(JSON.stringify(manifest, null, 2));
  const sig = await edSign(keys.identitySeed, 'porchlight/evidence/v1', bytes);
  return tar([{ path: 'manifest.json', bytes }, { path: 'manifest.sig', bytes: utf8(hex(sig)) }, ...files], Date.now());
}
