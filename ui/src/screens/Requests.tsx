// Footage requests from verified agencies, as the owner's device sees them
// (design/agencies.md). The server offers every request whose area touches the home's
// cell; this device shows one only if the household's exact home point (which only it can
// open) is inside the area and a camera recorded in the window. Nothing about showing,
// opening, ignoring or declining leaves this device: only an answer does. An answer shares
// chosen clips, redacted by the camera hub unless the owner turns that off, through grants
// for the agency's key, once that key is proved to be the one the transparency log recorded.
import { useEffect, useState } from 'react';
import { type EventJson, type OfferedRequest, agencies, api, neighbourhood } from '../api';
import { type Area, contains } from '../area';
import { hex, unhex } from '../crypto/bytes';
import { type Keyring, openObject, parseHeader, parsePublicKeys } from '../crypto/format';
import { makeGrant } from '../crypto/grant';
import { openPoint } from '../homepoint';
import { useCameraNames } from '../names';
import { prepareClip, soundNote } from '../live';
import { hasSound } from '../mse';
import { fetchSealed } from '../objects';
import { checkAgencyKeys } from '../tlog';
import { Feedback, message, useAction } from './common';

const when = (ms: number) => new Date(ms).toLocaleString();
const words = (c: string) => c.replace(/_/g, ' ');

interface Shown {
  r: OfferedRequest;
  events: EventJson[];
}

export function Requests(p: { householdId: string; keys: Keyring }) {
  const [shown, setShown] = useState<Shown[] | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    (async () => {
      const home = await neighbourhood.home(p.householdId).catch(() => null);
      const point = home ? await openPoint(p.keys.encryptionSecret, p.householdId, home.sealed_point) : null;
      if (!point) {
        const why = home
          ? "Your household's home was set from another member's account, so this device cannot read the exact point. Set it again on the Neighbourhood page to see requests."
          : 'Set your home on the Neighbourhood page: requests are shown only for homes inside their area.';
        if (live) setNote(why);
        if (live) setShown([]);
        return;
      }
      const offered = await agencies.offered(p.householdId);
      const out: Shown[] = [];
      for (const r of offered) {
        // The exact test, here on the device: the server only knows the home's cell.
        if (!contains(r.area as Area, point[0], point[1])) continue; // The schema types points as number[][]; the server checks they are pairs.
        const events = await api.events(p.householdId, { from_ms: r.window_from_ms, until_ms: r.window_until_ms, order: 'asc', limit: 200 });
        const clips = events.filter((e) => e.clip_object && e.end_ms > r.window_from_ms && e.start_ms < r.window_until_ms);
        if (clips.length > 0) out.push({ r, events: clips });
      }
      if (live) setShown(out);
    })().catch((e: unknown) => live && setError(message(e)));
    return () => {
      live = false;
    };
  }, [p.householdId, p.keys]);

  return (
    <section aria-labelledby="req-title" className="nb">
      <h1 id="req-title">Requests from agencies</h1>
      <p className="muted">
        Only you see these, and only because your home is inside the area and your cameras recorded during the time asked about.
        Nobody is told whether you looked or declined. Every request and every answer is counted in the public{' '}
        <a href="#/transparency">transparency log</a>.
      </p>
      <Feedback error={error} ok={note} />
      {shown === null ? (
        <p aria-busy="true">Loading…</p>
      ) : shown.length === 0 ? (
        <p className="muted">No requests for your home.</p>
      ) : (
        <ol className="posts" aria-label="Requests">
          {shown.map((s) => (
            <Request key={s.r.id} s={s} householdId={p.householdId} keys={p.keys} />
          ))}
        </ol>
      )}
    </section>
  );
}

interface Picked {
  event: EventJson;
  objectId: string;
  url: string;
  note: string;
}

function Request(p: { s: Shown; householdId: string; keys: Keyring }) {
  const r = p.s.r;
  const name = useCameraNames(p.householdId, p.keys);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [redact, setRedact] = useState(true);
  const [keepAudio, setKeepAudio] = useState(false);
  const [anonymous, setAnonymous] = useState(true);
  const [contact, setContact] = useState('');
  const [preview, setPreview] = useState<Picked[] | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [run, error, busy] = useAction();

  const toggle = (id: string) =>
    setChosen((c) => {
      const n = new Set(c);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  const prepare = () =>
    run(async () => {
      const out: Picked[] = [];
      for (const e of p.s.events.filter((x) => chosen.has(x.id))) {
        // The event's clip as the agent sealed it for the household; it carries the
        // camera's sound where the camera records it.
        const plaintext = redact ? null : (await openObject(await fetchSealed(e.clip_object!), p.keys)).plaintext;
        if (!plaintext || (hasSound(plaintext) && !keepAudio)) {
          // Prepared on the agent: blurred, and without the sound unless it is kept (a clip
          // not blurred is still re-made there to leave the sound out). The event's clip
          // (with its pre- and post-roll), within the window and the 120 s a prepared clip
          // may last.
          const clip = await parseHeader(await fetchSealed(e.clip_object!));
          const start = Math.max(clip.startMs, r.window_from_ms);
          const end = Math.min(clip.endMs, r.window_until_ms, start + 120_000);
          const ac = new AbortController();
          const { made, bytes } = await prepareClip(
            p.householdId,
            e.camera,
            p.keys,
            {
              start_ms: start,
              end_ms: Math.max(end, start + 1000),
              people: redact,
              faces: redact,
              text: redact,
              seal: true,
              keep_audio: keepAudio,
            },
            ac.signal,
          );
          if (!made.object_id) throw new Error('Your camera hub did not seal the clip; update it and try again.');
          const blurred = redact
            ? `blurred: people in ${made.frames_with_people}, faces in ${made.frames_with_faces}, text in ${made.frames_with_text} of ${made.frames} frames`
            : 'not blurred';
          out.push({
            event: e,
            objectId: made.object_id,
            url: URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'video/mp4' })),
            note: `${blurred}; ${soundNote(made)}`,
          });
        } else {
          const sound = hasSound(plaintext) ? 'with the sound your camera recorded' : 'no sound';
          out.push({
            event: e,
            objectId: e.clip_object!,
            url: URL.createObjectURL(new Blob([plaintext as Uint8Array<ArrayBuffer>], { type: 'video/mp4' })),
            note: `not blurred; ${sound}`,
          });
        }
      }
      setPreview(out);
    });

  const share = () =>
    run(async () => {
      if (!preview) return;
      // The agency's key, proved to be the one the log recorded when it was verified.
      await checkAgencyKeys(r.agency_log_index, r.agency_id, r.agency_public_keys);
      const agencyKeys = await parsePublicKeys(unhex(r.agency_public_keys));
      const clips = [];
      for (const c of preview) {
        const header = await parseHeader(await fetchSealed(c.objectId));
        const grant = await makeGrant(p.keys, header, agencyKeys.encryption, `footage request ${r.id}`, Date.now());
        clips.push({ object_id: c.objectId, grant: hex(grant) });
      }
      const res = await agencies.respond(p.householdId, r.id, clips, anonymous ? null : contact.trim() || null);
      setDone(`Shared ${clips.length} clip${clips.length === 1 ? '' : 's'}. ${r.agency} knows you as Resident ${res.resident}${anonymous ? '' : ', with your contact details'}.`);
    });

  return (
    <li className="card post" data-request={r.id}>
      <p>
        <strong>{r.agency}</strong> asks about a <strong>{words(r.category)}</strong>
      </p>
      <p className="post-body">{r.description}</p>
      <p className="muted">
        Footage from {when(r.window_from_ms)} to {when(r.window_until_ms)} · area {r.area_sq_mi.toFixed(3)} sq mi · open until{' '}
        {when(r.expires_ms)} · the agency's verified number: {r.agency_phone}
      </p>
      {done ? (
        <p role="status">{done}</p>
      ) : (
        <>
          <fieldset>
            <legend>Your clips from that time</legend>
            {p.s.events.map((e) => (
              <label key={e.id} className="check">
                <input type="checkbox" checked={chosen.has(e.id)} onChange={() => toggle(e.id)} /> {name(e.camera)}, {when(e.start_ms)}
              </label>
            ))}
          </fieldset>
          <label className="check">
            <input type="checkbox" checked={redact} onChange={(e) => setRedact(e.target.checked)} /> Blur people, faces and text (number
            plates, house numbers) before sharing
          </label>
          <label className="check">
            <input type="checkbox" checked={keepAudio} onChange={(e) => setKeepAudio(e.target.checked)} /> Include the sound (where your
            camera records it)
          </label>
          <button onClick={() => void prepare()} disabled={busy || chosen.size === 0}>
            Preview what would be shared
          </button>
          {preview && (
            <div className="post-media" aria-label="Preview">
              {preview.map((c) => (
                <figure key={c.objectId}>
                  <video src={c.url} controls muted playsInline aria-label={`Preview of ${name(c.event.camera)}`} />
                  <figcaption className="muted">{c.note}</figcaption>
                </figure>
              ))}
              <fieldset>
                <legend>Who the agency sees</legend>
                <label className="check">
                  <input type="radio" name={`who-${r.id}`} checked={anonymous} onChange={() => setAnonymous(true)} /> Stay anonymous (a
                  resident number)
                </label>
                <label className="check">
                  <input type="radio" name={`who-${r.id}`} checked={!anonymous} onChange={() => setAnonymous(false)} /> Give my contact
                  details
                </label>
                {!anonymous && (
                  <label className="field">
                    <span>Contact details</span>
                    <input value={contact} onChange={(e) => setContact(e.target.value)} maxLength={200} />
                  </label>
                )}
              </fieldset>
              <button onClick={() => void share()} disabled={busy}>
                Share {preview.length} clip{preview.length === 1 ? '' : 's'} with {r.agency}
              </button>
            </div>
          )}
        </>
      )}
      <Feedback error={error} />
    </li>
  );
}
