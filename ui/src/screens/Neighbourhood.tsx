// The neighbourhood (design/neighbourhood.md): the household's home as a cell, the feed of
// posts around it as a list and as an offline map, posting (after the rules), comments,
// reports and the contact relay. Loaded on demand: h3-js is large and only this screen
// needs it.
import { useCallback, useEffect, useState } from 'react';
import { cellToBoundary, cellToLatLng, latLngToCell } from 'h3-js';
import {
  ApiError,
  type Conversation,
  type EventJson,
  type HomeJson,
  type Membership,
  type Post,
  type Rules,
  agencies,
  api,
  neighbourhood as nb,
  can,
} from '../api';
import type { Keyring } from '../crypto/format';
import { openPoint, sealPoint } from '../homepoint';
import { type PreparedClip, prepareClip, sha256Hex, soundNote } from '../live';
import { Feedback, ago, message, useAction, useAsync } from './common';

export const CATEGORIES: Record<string, string> = {
  crime: 'Crime',
  safety: 'Safety',
  unusual_activity: 'Unusual activity',
  lost_pet: 'Lost pet',
  found_pet: 'Found pet',
  general: 'General',
};

const RADII = [200, 500, 1000, 2000, 4000, 8000];
const HOME_RES = 8;
function km(m: number): string {
  return m >= 1000 ? `${m / 1000} km` : `${m} m`;
}

function areaText(a: Post['area']): string {
  return `an area of about ${a.area_km2 < 10 ? a.area_km2.toFixed(1) : Math.round(a.area_km2)} km²`;
}

export function Neighbourhood(p: { membership: Membership; keys: Keyring; tiles: string | null }) {
  const hid = p.membership.household_id;
  const canSetHome = can(p.membership, 'settings');
  const [home, setHome] = useState<HomeJson | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    nb.home(hid).then(
      (h) => live && setHome(h),
      (e: unknown) => {
        if (!live) return;
        if (e instanceof ApiError && e.status === 404) setHome(null);
        else setError(message(e));
      },
    );
    return () => {
      live = false;
    };
  }, [hid]);
  if (error) return <Feedback error={error} />;
  if (home === undefined) return <p aria-busy="true">Loading…</p>;
  return (
    <section aria-labelledby="nb-title" className="nb">
      <h1 id="nb-title">Neighbourhood</h1>
      {home === null || !home.home_cell ? (
        canSetHome ? (
          <HomeForm hid={hid} keys={p.keys} onSet={setHome} />
        ) : (
          <p>The household's owner has not set its home location yet.</p>
        )
      ) : (
        <>
          <HomeSummary home={home} hid={hid} keys={p.keys} canChange={canSetHome} onChange={() => setHome(null)} />
          <Alerts hid={hid} />
          <Feed hid={hid} home={home} tiles={p.tiles} keys={p.keys} />
          <Messages />
        </>
      )}
    </section>
  );
}

/** Official safety alerts from verified agencies whose area reaches this home's cell. */
function Alerts(p: { hid: string }) {
  const alerts = useAsync(() => agencies.alerts(p.hid), [p.hid]);
  if (!alerts.value?.length) return null;
  return (
    <ol className="posts" aria-label="Official alerts">
      {alerts.value.map((a) => (
        <li key={a.id} className="card post official" data-alert={a.id}>
          <p>
            <strong>Official</strong> · {a.agency} · <span className="muted">{ago(a.created_ms)}</span>
          </p>
          <p className="post-body">{a.body}</p>
          <p className="muted">Until {new Date(a.expires_ms).toLocaleString()}</p>
        </li>
      ))}
    </ol>
  );
}

function HomeForm(p: { hid: string; keys: Keyring; onSet: (h: HomeJson) => void }) {
  const [lat, setLat] = useState('');
  const [lon, setLon] = useState('');
  const [run, error, busy] = useAction();
  const save = () =>
    run(async () => {
      const la = Number(lat);
      const lo = Number(lon);
      if (lat.trim() === '' || !Number.isFinite(la) || la < -90 || la > 90) throw new Error('Latitude: expected a number from -90 to 90.');
      if (lon.trim() === '' || !Number.isFinite(lo) || lo < -180 || lo > 180) throw new Error('Longitude: expected a number from -180 to 180.');
      const cell = latLngToCell(la, lo, HOME_RES);
      p.onSet(await nb.setHome(p.hid, cell, await sealPoint(p.keys, p.hid, la, lo)));
    });
  const here = () =>
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        setLat(pos.coords.latitude.toFixed(6));
        setLon(pos.coords.longitude.toFixed(6));
      },
      () => undefined,
    );
  return (
    <form
      className="card narrow"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h2>Your home location</h2>
      <p className="hint">
        The exact point stays on your devices, sealed with your keys. The server keeps only the cell around it (about 0.7 km²), and your posts
        show an area with at least 20 households in it, never your home.
      </p>
      <label className="field">
        Latitude
        <input inputMode="decimal" value={lat} onChange={(e) => setLat(e.target.value)} placeholder="52.2053" />
      </label>
      <label className="field">
        Longitude
        <input inputMode="decimal" value={lon} onChange={(e) => setLon(e.target.value)} placeholder="0.1218" />
      </label>
      <div className="row">
        <button type="submit" disabled={busy}>
          Save home
        </button>
        {'geolocation' in navigator && (
          <button type="button" className="link" onClick={here}>
            Use this device's location
          </button>
        )}
      </div>
      <Feedback error={error} />
    </form>
  );
}

function HomeSummary(p: { home: HomeJson; hid: string; keys: Keyring; canChange: boolean; onChange: () => void }) {
  const [point, setPoint] = useState<[number, number] | null>(null);
  useEffect(() => {
    let live = true;
    void openPoint(p.keys.encryptionSecret, p.hid, p.home.sealed_point).then((pt) => live && setPoint(pt));
    return () => {
      live = false;
    };
  }, [p.keys, p.hid, p.home.sealed_point]);
  const a = p.home.post_area;
  return (
    <div className="card" data-testid="home-summary">
      <p>
        Home{point ? ` (${point[0].toFixed(5)}, ${point[1].toFixed(5)}, seen only by you)` : ''}.{' '}
        {a ? (
          <>Your posts show {areaText(a)} holding {a.households} households.</>
        ) : (
          <span className="warn">{p.home.cannot_post}</span>
        )}
      </p>
      {p.canChange && (
        <button className="link" onClick={p.onChange}>
          Change home location
        </button>
      )}
    </div>
  );
}

function Feed(p: { hid: string; home: HomeJson; tiles: string | null; keys: Keyring }) {
  const [radius, setRadius] = useState(2000);
  const [view, setView] = useState<'list' | 'map'>('list');
  const [posts, setPosts] = useState<Post[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [focus, setFocus] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const page = await nb.feed(p.hid, radius);
      setPosts(page);
      setMore(page.length === 50);
      setError(null);
    } catch (e) {
      setError(message(e));
    }
  }, [p.hid, radius]);

  useEffect(() => {
    // Fetching the feed when the radius changes is a sync with the server.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void load();
  }, [load]);

  // New posts nearby arrive as a signal; the feed is fetched again with this radius.
  useEffect(() => {
    const es = new EventSource(`/api/households/${p.hid}/feed/live`);
    es.addEventListener('post', () => void load());
    return () => es.close();
  }, [p.hid, load]);

  const older = async () => {
    const last = posts?.[posts.length - 1];
    if (!last) return;
    try {
      const page = await nb.feed(p.hid, radius, { ms: last.created_ms, id: last.id });
      setPosts((ps) => [...(ps ?? []), ...page]);
      setMore(page.length === 50);
    } catch (e) {
      setError(message(e));
    }
  };

  return (
    <>
      {p.home.post_area && <NewPost hid={p.hid} keys={p.keys} onPosted={() => void load()} />}
      <div className="filters" role="group" aria-label="Feed">
        <label>
          Within{' '}
          <select value={radius} onChange={(e) => setRadius(Number(e.target.value))} aria-label="Radius">
            {RADII.map((r) => (
              <option key={r} value={r}>
                {km(r)}
              </option>
            ))}
          </select>
        </label>
        <div className="tabs" role="tablist">
          <button role="tab" aria-selected={view === 'list'} onClick={() => setView('list')}>
            List
          </button>
          <button role="tab" aria-selected={view === 'map'} onClick={() => setView('map')}>
            Map
          </button>
        </div>
      </div>
      <Feedback error={error} />
      {posts === null ? (
        <p aria-busy="true">Loading the feed…</p>
      ) : (
        <>
          {view === 'map' && (
            <FeedMap
              home={p.home.home_cell}
              tiles={p.tiles}
              radius={radius}
              posts={posts}
              onPick={(id) => {
                setFocus(id);
                setView('list');
              }}
            />
          )}
          {view === 'list' && (
            <ol className="posts" aria-label="Posts">
              {posts.length === 0 && <li className="muted">No posts within {km(radius)} yet.</li>}
              {posts.map((post) => (
                <PostCard key={post.id} hid={p.hid} post={post} focus={focus === post.id} onChanged={() => void load()} />
              ))}
            </ol>
          )}
          {view === 'list' && more && (
            <button className="link" onClick={() => void older()}>
              Older posts
            </button>
          )}
        </>
      )}
    </>
  );
}

function RulesDialog(p: { rules: Rules; onAccept: () => void; onCancel: () => void }) {
  return (
    <div role="dialog" aria-modal="true" aria-labelledby="rules-title" className="card dialog">
      <h2 id="rules-title">Before your first post</h2>
      <pre className="rules">{p.rules.text}</pre>
      <div className="row">
        {/* Buttons, not submits: the dialog sits in the post's form. */}
        <button type="button" onClick={p.onAccept}>
          I accept the rules
        </button>
        <button type="button" className="link" onClick={p.onCancel}>
          Not now
        </button>
      </div>
    </div>
  );
}

/** A photo or clip attached to a post being written: exactly the bytes that will be posted. */
interface Attachment {
  kind: 'photo' | 'clip';
  bytes: Uint8Array;
  url: string;
  sha256: string;
  clip?: PreparedClip;
}

function NewPost(p: { hid: string; keys: Keyring; onPosted: () => void }) {
  const [category, setCategory] = useState('general');
  const [body, setBody] = useState('');
  const [rules, setRules] = useState<Rules | null>(null);
  const [attached, setAttached] = useState<Attachment[]>([]);
  const [picking, setPicking] = useState(false);
  const [run, error, busy] = useAction();
  const publish = async () => {
    // Each attachment goes up as previewed; the server's SHA-256 must match the preview's.
    const ids: string[] = [];
    for (const a of attached) {
      const m = await nb.upload(p.hid, a.kind, a.bytes);
      if (m.sha256 !== a.sha256) throw new Error('The server stored different bytes from the ones you previewed; nothing was posted.');
      ids.push(m.id);
    }
    await nb.post(p.hid, category, body, ids);
    setBody('');
    attached.forEach((a) => URL.revokeObjectURL(a.url));
    setAttached([]);
    p.onPosted();
  };
  const send = () =>
    run(async () => {
      const r = await nb.rules();
      if (!r.accepted) {
        setRules(r);
        return;
      }
      await publish();
    });
  const addPhoto = (f: File) =>
    run(async () => {
      const bytes = await photoWithoutMetadata(f);
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }));
      const sha256 = await sha256Hex(bytes);
      setAttached((a) => [...a, { kind: 'photo', bytes, url, sha256 }]);
    });
  return (
    <form
      className="card"
      aria-label="New post"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <label className="field">
        Category
        <select value={category} onChange={(e) => setCategory(e.target.value)}>
          {Object.entries(CATEGORIES).map(([k, v]) => (
            <option key={k} value={k}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        What happened?
        <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={3} maxLength={4000} />
      </label>
      {attached.length > 0 && (
        <ul className="attachments" aria-label="Attached">
          {attached.map((a, i) => (
            <li key={a.url}>
              {a.kind === 'clip' ? (
                <video src={a.url} controls muted playsInline aria-label="Preview of the clip to post" />
              ) : (
                <img src={a.url} alt="Photo to post" />
              )}
              {a.clip && <ClipSummary clip={a.clip} />}
              <p className="muted mono" title="SHA-256 of exactly what will be posted">
                {a.kind === 'clip' ? 'Clip' : 'Photo'} · {(a.bytes.length / 1024).toFixed(0)} KiB · SHA-256 {a.sha256.slice(0, 16)}…
              </p>
              <button
                type="button"
                className="link"
                onClick={() => {
                  URL.revokeObjectURL(a.url);
                  setAttached((xs) => xs.filter((_, j) => j !== i));
                }}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {attached.length < 4 && (
        <div className="row">
          <button type="button" className="link" aria-expanded={picking} onClick={() => setPicking(!picking)}>
            Attach a clip from your events
          </button>
          <label className="link">
            Attach a photo
            <input
              type="file"
              accept="image/jpeg,image/png,image/webp"
              className="visually-hidden"
              onChange={(e) => {
                const f = e.target.files?.[0];
                e.target.value = '';
                if (f) void addPhoto(f);
              }}
            />
          </label>
        </div>
      )}
      {picking && (
        <ClipPicker
          hid={p.hid}
          keys={p.keys}
          onPrepared={(made, bytes) => {
            const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'video/mp4' }));
            setAttached((a) => [...a, { kind: 'clip', bytes, url, sha256: made.sha256, clip: made }]);
            setPicking(false);
          }}
        />
      )}
      <button type="submit" disabled={busy || body.trim() === ''}>
        Post to the neighbourhood
      </button>
      <Feedback error={error} />
      {rules && (
        <RulesDialog
          rules={rules}
          onCancel={() => setRules(null)}
          onAccept={() =>
            void run(async () => {
              await nb.acceptRules(rules.hash);
              setRules(null);
              await publish();
            })
          }
        />
      )}
    </form>
  );
}

/**
 * A photo as a JPEG without metadata: drawn onto a canvas and encoded again, which keeps
 * only the pixels (no EXIF, so no GPS position or camera serial), at most 2048 pixels a side.
 */
async function photoWithoutMetadata(f: File): Promise<Uint8Array> {
  if (f.size > 40 << 20) throw new Error('photo: at most 40 MB');
  const img = await createImageBitmap(f).catch(() => {
    throw new Error('photo: this file is not a picture the browser can read');
  });
  const k = Math.min(1, 2048 / Math.max(img.width, img.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(img.width * k);
  canvas.height = Math.round(img.height * k);
  canvas.getContext('2d')?.drawImage(img, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise<Blob | null>((res) => canvas.toBlob(res, 'image/jpeg', 0.88));
  if (!blob) throw new Error('photo: the browser could not encode it');
  return new Uint8Array(await blob.arrayBuffer());
}

function ClipSummary(p: { clip: PreparedClip }) {
  const c = p.clip;
  const what = [c.people && `people (${c.frames_with_people} of ${c.frames} frames)`, c.faces && `faces (${c.frames_with_faces})`, c.text && `text and plates (${c.frames_with_text})`]
    .filter(Boolean)
    .join(', ');
  return (
    <p className="muted" role="note">
      {c.camera}, {new Date(c.start_ms).toLocaleString()}, {c.duration_s.toFixed(1)} s at {c.width}×{c.height}. Blurred by your camera hub:{' '}
      {what || 'nothing (you turned blurring off)'}
      {c.masks > 0 && `; ${c.masks} privacy mask${c.masks > 1 ? 's' : ''} black`}; {soundNote(c)}. This preview is exactly what will be
      posted.
    </p>
  );
}

/** Footage kept before and after an event for its clip (the agent's default). */
const ROLL_MS = 5_000;

/** The household's recent events, one of which the agent prepares (blurred) for the post. */
function ClipPicker(p: { hid: string; keys: Keyring; onPrepared: (made: PreparedClip, bytes: Uint8Array) => void }) {
  const [events, setEvents] = useState<EventJson[] | null>(null);
  const [blur, setBlur] = useState({ people: true, faces: true, text: true });
  const [keepAudio, setKeepAudio] = useState(false);
  const [preparing, setPreparing] = useState<string | null>(null);
  const [run, error] = useAction();
  useEffect(() => {
    void run(async () => setEvents(await api.events(p.hid, { limit: 20, order: 'desc' })));
    // Once per household.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [p.hid]);
  const prepare = (e: EventJson) =>
    run(async () => {
      setPreparing(e.id);
      try {
        // The event with the default pre- and post-roll around it (a doorbell press is an
        // instant), at most two minutes.
        const start = e.start_ms - ROLL_MS;
        const ask = {
          start_ms: start,
          end_ms: Math.min(Math.max(e.end_ms, e.start_ms) + ROLL_MS, start + 120_000),
          ...blur,
          keep_audio: keepAudio,
        };
        const ctl = new AbortController();
        const { made, bytes } = await prepareClip(p.hid, e.camera, p.keys, ask, ctl.signal);
        p.onPrepared(made, bytes);
      } finally {
        setPreparing(null);
      }
    });
  return (
    <div className="card" role="group" aria-label="Clip from your events">
      <fieldset className="row">
        <legend>Blur</legend>
        {(['people', 'faces', 'text'] as const).map((k) => (
          <label key={k}>
            <input type="checkbox" checked={blur[k]} onChange={(e) => setBlur({ ...blur, [k]: e.target.checked })} />{' '}
            {k === 'text' ? 'text and number plates' : k}
          </label>
        ))}
      </fieldset>
      {!blur.people && !blur.faces && <p className="warn">Faces of passers-by will be visible to your neighbourhood.</p>}
      <label className="check">
        <input type="checkbox" checked={keepAudio} onChange={(e) => setKeepAudio(e.target.checked)} /> Keep the sound (where your camera
        records it; voices of passers-by are not blurred)
      </label>
      <Feedback error={error} />
      {preparing && <p aria-busy="true">Your camera hub is preparing the clip (blurring on your hub; the server never sees the footage)…</p>}
      {events === null ? (
        <p aria-busy="true">Loading your events…</p>
      ) : events.length === 0 ? (
        <p className="muted">No events recorded yet.</p>
      ) : (
        <ul className="events" aria-label="Your events">
          {events.map((e) => (
            <li key={e.id}>
              {e.camera} · {new Date(e.start_ms).toLocaleString()} · {Math.round(Math.max(0, e.end_ms - e.start_ms) / 1000)} s, with{' '}
              {ROLL_MS / 1000} s before and after{' '}
              <button type="button" disabled={preparing !== null} onClick={() => void prepare(e)}>
                Prepare this clip
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function PostMediaView(p: { hid: string; post: Post }) {
  if (p.post.media.length === 0) return null;
  return (
    <div className="post-media">
      {p.post.media.map((m) =>
        m.kind === 'clip' ? (
          <video key={m.id} src={nb.mediaUrl(p.hid, m.id)} controls muted playsInline preload="metadata" aria-label="Posted clip" />
        ) : (
          <img key={m.id} src={nb.mediaUrl(p.hid, m.id)} alt="Posted photo" loading="lazy" />
        ),
      )}
    </div>
  );
}

function PostCard(p: { hid: string; post: Post; focus: boolean; onChanged: () => void }) {
  const post = p.post;
  const [open, setOpen] = useState<'comments' | 'report' | 'contact' | 'edit' | null>(null);
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  const ref = useCallback(
    (el: HTMLLIElement | null) => {
      if (el && p.focus) el.scrollIntoView({ block: 'center' });
    },
    [p.focus],
  );
  return (
    <li className={`card post${p.focus ? ' focus' : ''}`} ref={ref} data-post={post.id}>
      <p className="post-head">
        <strong>{CATEGORIES[post.category] ?? post.category}</strong> · <span className="muted">{ago(post.created_ms)}</span>
        {post.edited_ms && <span className="muted"> · edited</span>}
        {post.mine && <span className="muted"> · your household</span>}
      </p>
      {post.hidden_reason && (
        <p className="warn" role="note">
          Hidden by the operator: {post.hidden_reason}. Only you can see it.
        </p>
      )}
      <p className="post-body">{post.body}</p>
      <PostMediaView hid={p.hid} post={post} />
      <p className="muted">From {areaText(post.area)}.</p>
      <div className="row">
        <button className="link" aria-expanded={open === 'comments'} onClick={() => setOpen(open === 'comments' ? null : 'comments')}>
          Comments ({post.comments})
        </button>
        {!post.editable && (
          <>
            <button className="link" onClick={() => setOpen(open === 'contact' ? null : 'contact')}>
              Contact the poster
            </button>
            <button className="link" onClick={() => setOpen(open === 'report' ? null : 'report')}>
              Report
            </button>
          </>
        )}
        {post.editable && (
          <>
            <button className="link" onClick={() => setOpen(open === 'edit' ? null : 'edit')}>
              Edit
            </button>
            <button
              className="link"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  if (!confirm('Delete this post, its comments and its conversations?')) return;
                  await nb.remove(post.id);
                  p.onChanged();
                })
              }
            >
              Delete
            </button>
          </>
        )}
      </div>
      <Feedback error={error} ok={ok} />
      {open === 'comments' && <Comments hid={p.hid} post={post} />}
      {open === 'report' && (
        <TextAction
          label="What is wrong with this post?"
          action="Send report"
          onSend={async (reason) => {
            await nb.report(p.hid, post.id, reason);
            setOk('Reported. The operator will review it.');
            setOpen(null);
          }}
        />
      )}
      {open === 'contact' && (
        <TextAction
          label="Message to the poster (they will not see who you are)"
          action="Send message"
          reveal
          onSend={async (body, reveal) => {
            await nb.contact(p.hid, post.id, body, reveal);
            setOk('Sent. Replies appear under Messages.');
            setOpen(null);
          }}
        />
      )}
      {open === 'edit' && (
        <TextAction
          label="Text"
          action="Save"
          initial={post.body}
          onSend={async (body) => {
            await nb.edit(post.id, post.category, body);
            setOpen(null);
            p.onChanged();
          }}
        />
      )}
    </li>
  );
}

function TextAction(p: {
  label: string;
  action: string;
  initial?: string;
  reveal?: boolean;
  onSend: (text: string, reveal: string | null) => Promise<void>;
}) {
  const [text, setText] = useState(p.initial ?? '');
  const [reveal, setReveal] = useState('');
  const [run, error, busy] = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void run(() => p.onSend(text, reveal.trim() || null));
      }}
    >
      <label className="field">
        {p.label}
        <textarea value={text} onChange={(e) => setText(e.target.value)} rows={2} />
      </label>
      {p.reveal && (
        <label className="field">
          Share contact details (optional; leave empty to stay anonymous)
          <input value={reveal} onChange={(e) => setReveal(e.target.value)} maxLength={200} />
        </label>
      )}
      <button type="submit" disabled={busy || text.trim() === ''}>
        {p.action}
      </button>
      <Feedback error={error} />
    </form>
  );
}

function Comments(p: { hid: string; post: Post }) {
  const [list, setList] = useState<Awaited<ReturnType<typeof nb.comments>> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    () =>
      nb.comments(p.hid, p.post.id).then(
        (c) => setList(c),
        (e: unknown) => setError(message(e)),
      ),
    [p.hid, p.post.id],
  );
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <div className="comments">
      <Feedback error={error} />
      <ul aria-label="Comments">
        {list?.map((c) => (
          <li key={c.id}>
            <strong>{c.by}</strong> <span className="muted">{ago(c.created_ms)}</span>
            <p>{c.body}</p>
            {c.mine && (
              <button className="link" onClick={() => void nb.deleteComment(c.id).then(load, (e: unknown) => setError(message(e)))}>
                Delete
              </button>
            )}
          </li>
        ))}
      </ul>
      <TextAction
        label="Comment"
        action="Comment"
        onSend={async (body) => {
          await nb.comment(p.hid, p.post.id, body);
          await load();
        }}
      />
    </div>
  );
}

function Messages() {
  const [threads, setThreads] = useState<Awaited<ReturnType<typeof nb.threads>> | null>(null);
  const [open, setOpen] = useState<Conversation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => nb.threads().then(setThreads, (e: unknown) => setError(message(e))), []);
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 15_000);
    return () => clearInterval(t);
  }, [load]);
  if (!threads || threads.length === 0) return null;
  return (
    <section aria-labelledby="msg-title" className="card">
      <h2 id="msg-title">Messages</h2>
      <Feedback error={error} />
      <ul>
        {threads.map((t) => (
          <li key={t.id}>
            <button className="link" onClick={() => void nb.conversation(t.id).then(setOpen, (e: unknown) => setError(message(e)))}>
              {t.role === 'poster' ? 'A neighbour wrote about your' : 'You wrote about a'} {CATEGORIES[t.post_category] ?? t.post_category} post · {ago(t.last_ms)}
            </button>
          </li>
        ))}
      </ul>
      {open && (
        <div aria-label="Conversation">
          <ol className="messages">
            {open.messages.map((m) => (
              <li key={m.id} className={m.from_me ? 'from-me' : ''}>
                <strong>{m.from_me ? 'You' : open.thread.role === 'poster' ? 'Neighbour' : 'Poster'}</strong>: {m.body}
                {m.reveal && <p className="reveal">Shared contact details: {m.reveal}</p>}
              </li>
            ))}
          </ol>
          <TextAction
            label="Reply"
            action="Send reply"
            reveal
            onSend={async (body, reveal) => {
              setOpen(await nb.reply(open.thread.id, body, reveal));
              await load();
            }}
          />
        </div>
      )}
    </section>
  );
}

/** Web Mercator tiles covering a square of `span` metres around (lat, lon), placed with
 * `xy` (the map's local projection, which matches Mercator to well under a pixel at the
 * scale of a town). */
function tiles(template: string, lat: number, lon: number, span: number, scale: number, xy: (p: number[]) => number[]) {
  const earth = 40_075_016.686 * Math.cos((lat * Math.PI) / 180);
  const z = Math.max(0, Math.min(19, Math.round(Math.log2((earth * scale) / 256))));
  const n = 2 ** z;
  const tx = (lo: number) => ((lo + 180) / 360) * n;
  const ty = (la: number) => ((1 - Math.log(Math.tan((la * Math.PI) / 180) + 1 / Math.cos((la * Math.PI) / 180)) / Math.PI) / 2) * n;
  const lonOf = (x: number) => (x / n) * 360 - 180;
  const latOf = (y: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;
  const dLat = span / 111_320;
  const dLon = span / (111_320 * Math.cos((lat * Math.PI) / 180));
  const out: { key: string; href: string; x: number; y: number; w: number; h: number }[] = [];
  for (let x = Math.floor(tx(lon - dLon)); x <= Math.floor(tx(lon + dLon)); x++) {
    for (let y = Math.floor(ty(lat + dLat)); y <= Math.floor(ty(lat - dLat)); y++) {
      const [xa, ya] = xy([latOf(y), lonOf(x)]);
      const [xb, yb] = xy([latOf(y + 1), lonOf(x + 1)]);
      const href = template.replace('{z}', String(z)).replace('{x}', String(x)).replace('{y}', String(y));
      out.push({ key: `${z}/${x}/${y}`, href, x: xa!, y: ya!, w: xb! - xa!, h: yb! - ya! });
    }
  }
  return out;
}

/** The map: the areas of the posts, the home cell and the radius, drawn in a local
 * equirectangular projection around the home. Offline unless the operator configured a
 * tile URL, whose tiles then lie underneath. */
function FeedMap(p: { home: string; tiles: string | null; radius: number; posts: Post[]; onPick: (id: string) => void }) {
  const [clat, clon] = cellToLatLng(p.home);
  const mPerDegLat = 111_320;
  const mPerDegLon = 111_320 * Math.cos((clat * Math.PI) / 180);
  const span = p.radius + 3000;
  const size = 600;
  const scale = size / (2 * span);
  const xy = ([lat, lon]: number[]) => [size / 2 + (lon! - clon) * mPerDegLon * scale, size / 2 - (lat! - clat) * mPerDegLat * scale];
  const poly = (cell: string) =>
    cellToBoundary(cell)
      .map((v) => xy(v).map((n) => n.toFixed(1)).join(','))
      .join(' ');
  // Coarse areas first, so finer ones stay clickable on top.
  const byArea = [...p.posts].sort((a, b) => a.area.resolution - b.area.resolution);
  return (
    <figure className="card map">
      <svg viewBox={`0 0 ${size} ${size}`} role="img" aria-label={`Map of ${p.posts.length} post${p.posts.length === 1 ? '' : 's'} within ${km(p.radius)}`}>
        <rect width={size} height={size} className="map-bg" />
        {p.tiles && tiles(p.tiles, clat, clon, span, scale, xy).map((t) => <image key={t.key} href={t.href} x={t.x} y={t.y} width={t.w} height={t.h} />)}
        {[-2, -1, 0, 1, 2].map((i) => (
          <g key={i} className="map-grid">
            <line x1={0} x2={size} y1={size / 2 + (i * size) / 5} y2={size / 2 + (i * size) / 5} />
            <line y1={0} y2={size} x1={size / 2 + (i * size) / 5} x2={size / 2 + (i * size) / 5} />
          </g>
        ))}
        <circle cx={size / 2} cy={size / 2} r={p.radius * scale} className="map-radius" />
        {byArea.map((post) => (
          <polygon
            key={post.id}
            points={poly(post.area.cell)}
            className={`map-area cat-${post.category}`}
            tabIndex={0}
            role="button"
            aria-label={`${CATEGORIES[post.category] ?? post.category}: ${post.body.slice(0, 60)}`}
            onClick={() => p.onPick(post.id)}
            onKeyDown={(e) => e.key === 'Enter' && p.onPick(post.id)}
          >
            <title>{`${CATEGORIES[post.category] ?? post.category}: ${post.body.slice(0, 80)}`}</title>
          </polygon>
        ))}
        <polygon points={poly(p.home)} className="map-home" />
      </svg>
      <figcaption className="muted">
        {p.tiles && <>Map tiles from {new URL(p.tiles.replace(/[{}]/g, '')).host}. </>}Each shape is the area a post comes from (never a point). The dashed circle is {km(p.radius)}; the outlined cell is your home's. Grid lines
        every {km(Math.round((2 * span) / 5 / 100) * 100)}.
      </figcaption>
    </figure>
  );
}
