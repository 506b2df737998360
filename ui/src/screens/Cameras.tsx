// The owner's camera settings and the household's mode. Everything here is sealed in the
// browser (settings.ts) and obeyed by the agents; the server relays bytes it cannot read.
import { type FormEvent, type MouseEvent, useEffect, useState } from 'react';
import { api } from '../api';
import type { Keyring } from '../crypto/format';
import { imageUrl } from '../objects';
import {
  type CameraFacts,
  type CameraSettings,
  type HouseholdSettings,
  type Loaded,
  MODES,
  type Mode,
  PLACEMENTS,
  type Point,
  EMPTY,
  checkSettings,
  defaultModes,
  loadSettings,
  placementOf,
  saveSettings,
} from '../settings';
import { Feedback, message, useAction, useAsync } from './common';

export const MODE_NAMES: Record<Mode, string> = { disarmed: 'Disarmed', home: 'Home', away: 'Away' };

/** The household's settings, reloaded when `tick` changes. */
export function useSettings(hid: string, keys: Keyring, tick: number) {
  return useAsync(() => loadSettings(hid, keys), [hid, keys, tick]);
}

/** How long the app waits for the agents to confirm a mode switch before saying so. */
const CONFIRM_WAIT_MS = 15_000;

type Switch = { mode: Mode; serial: number; state: 'waiting' | 'confirmed' | 'offline' | 'late' };

/**
 * Disarmed / Home / Away: the owner switches, everyone else sees which is on. A switch is
 * shown as done only when every online agent reports the new settings' serial (they report
 * at once when they apply it).
 */
export function ModeSwitch(p: { hid: string; keys: Keyring; loaded: Loaded | null; isOwner: boolean; onSaved: () => void }) {
  const [run, error, busy] = useAction();
  const [sw, setSw] = useState<Switch | null>(null);
  const current = (p.loaded?.settings ?? EMPTY).mode;
  useEffect(() => {
    if (!sw || sw.state !== 'waiting') return;
    let live = true;
    const started = Date.now();
    const check = async () => {
      while (live) {
        try {
          const online = (await api.cameraStatus(p.hid)).filter((s) => s.online);
          const state =
            online.length === 0 ? 'offline' : online.every((s) => (s.settings_serial ?? 0) >= sw.serial) ? 'confirmed' : Date.now() - started > CONFIRM_WAIT_MS ? 'late' : null;
          if (state) {
            if (live) setSw({ ...sw, state });
            return;
          }
        } catch {
          // A failed poll is tried again; the owner sees "waiting" meanwhile.
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    void check();
    return () => {
      live = false;
    };
  }, [sw, p.hid]);
  if (!p.isOwner) {
    return (
      <p className="mode" data-testid="mode">
        Mode: <strong>{MODE_NAMES[current]}</strong>
      </p>
    );
  }
  const set = (m: Mode) =>
    void run(async () => {
      const base = p.loaded?.settings ?? EMPTY;
      const serial = await saveSettings(p.hid, p.keys, { ...base, mode: m }, p.loaded?.serial ?? 0);
      setSw({ mode: m, serial, state: 'waiting' });
      p.onSaved();
    });
  const name = sw ? MODE_NAMES[sw.mode] : '';
  const said = !sw
    ? null
    : sw.state === 'waiting'
      ? `Switching to ${name}…`
      : sw.state === 'confirmed'
        ? `${name} is on: the cameras obey it.`
        : sw.state === 'offline'
          ? `${name} is saved; no agent is online, so it applies when one reconnects.`
          : `${name} is saved, but an agent has not confirmed it yet.`;
  return (
    <div className="mode" data-testid="mode">
      <div role="group" aria-label="Household mode" className="segmented">
        {MODES.map((m) => (
          <button key={m} type="button" aria-pressed={m === current} disabled={busy} onClick={() => set(m)}>
            {MODE_NAMES[m]}
          </button>
        ))}
      </div>
      {said && (
        <p role="status" className={sw?.state === 'confirmed' ? 'ok' : 'muted'} data-testid="mode-switch" data-state={sw?.state}>
          {said}
        </p>
      )}
      <Feedback error={error} />
    </div>
  );
}

/** Settings → Cameras: names, sensitivity, zones and masks drawn on a snapshot, what each mode does. */
export function CameraSettingsPanel(p: { hid: string; keys: Keyring }) {
  const [tick, setTick] = useState(0);
  // Outlives the forms, which are re-made from the saved settings after each save.
  const [saved, setSaved] = useState<{ camera: string; serial: number } | null>(null);
  const loaded = useSettings(p.hid, p.keys, tick);
  const cams = useAsync(async () => {
    const [h, status] = await Promise.all([api.household(p.hid), api.cameraStatus(p.hid)]);
    const names = [...new Set([...h.cameras, ...status.map((s) => s.camera)])].sort();
    return Promise.all(
      names.map(async (camera) => {
        const [latest] = await api.events(p.hid, { camera, order: 'desc', limit: 1 });
        const st = status.find((s) => s.camera === camera);
        return { camera, snapshot: latest?.snapshot_object ?? null, applied: st?.settings_serial ?? null, facts: st ? { doorbell: st.doorbell, indoor: st.indoor, records_sound: st.records_sound } : null };
      }),
    );
  }, [p.hid, tick]);
  if (loaded.error || cams.error) return <p role="alert">{loaded.error ?? cams.error}</p>;
  if (loaded.value === null && !loaded.error && cams.value === null) return <p aria-busy="true">Loading cameras…</p>;
  if (!cams.value) return <p aria-busy="true">Loading cameras…</p>;
  if (cams.value.length === 0) return <p>No camera yet: pair an agent first.</p>;
  const l = loaded.value;
  return (
    <>
      {cams.value.map((c) => (
        <CameraForm
          key={`${c.camera}-${l?.serial ?? 0}`}
          hid={p.hid}
          keys={p.keys}
          camera={c.camera}
          snapshot={c.snapshot}
          applied={c.applied}
          facts={c.facts}
          loaded={l}
          saved={saved?.camera === c.camera ? saved.serial : null}
          onSaved={(serial) => {
            setSaved({ camera: c.camera, serial });
            setTick((t) => t + 1);
          }}
        />
      ))}
    </>
  );
}

function CameraForm(p: {
  hid: string;
  keys: Keyring;
  camera: string;
  snapshot: string | null;
  applied: number | null;
  facts: CameraFacts | null;
  loaded: Loaded | null;
  saved: number | null;
  onSaved: (serial: number) => void;
}) {
  const all = p.loaded?.settings ?? EMPTY;
  const [cam, setCam] = useState<CameraSettings>(() => all.cameras[p.camera] ?? {});
  const [run, error, busy] = useAction();
  const ok = p.saved === null ? null : `Saved (version ${p.saved}); the agent applies it within seconds.`;
  const placement = placementOf({ ...all, cameras: { [p.camera]: cam } }, p.camera, p.facts);
  const modes = cam.modes ?? defaultModes(placement);
  const save = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    void run(async () => {
      const next: HouseholdSettings = checkSettings({ ...all, cameras: { ...all.cameras, [p.camera]: cam } });
      p.onSaved(await saveSettings(p.hid, p.keys, next, p.loaded?.serial ?? 0));
    });
  };
  const serial = p.loaded?.serial ?? 0;
  const title = cam.label ?? p.camera;
  return (
    <form className="camera-settings" onSubmit={save} aria-label={`Settings of ${title}`}>
      <h3>{title}</h3>
      <p className="muted" data-testid={`applied-${p.camera}`}>
        {serial === 0 ? 'Using the agent’s own configuration.' : p.applied === serial ? 'The agent applies the current settings.' : 'Waiting for the agent to apply the current settings…'}
      </p>
      <label className="field">
        <span>Name shown in the app</span>
        <input
          value={cam.label ?? ''}
          maxLength={48}
          placeholder={p.camera}
          onChange={(e) => setCam({ ...cam, label: e.target.value.trim() ? e.target.value : undefined })}
        />
      </label>
      <label className="field">
        <span>Motion sensitivity: {cam.sensitivity ?? 'the agent’s setting'}</span>
        <input
          type="range"
          min={1}
          max={100}
          value={cam.sensitivity ?? 60}
          onChange={(e) => setCam({ ...cam, sensitivity: Number(e.target.value) })}
        />
      </label>
      <ZoneEditor camera={p.camera} snapshot={p.snapshot} keys={p.keys} cam={cam} onChange={setCam} />
      <fieldset className="placement">
        <legend>Where it looks</legend>
        {PLACEMENTS.map((pl) => (
          <label key={pl}>
            <input type="radio" name={`placement-${p.camera}`} checked={placement === pl} onChange={() => setCam({ ...cam, placement: pl })} />
            {pl === 'outdoor' ? ' Outdoors (door, drive, garden)' : ' Indoors (never records in Home)'}
          </label>
        ))}
      </fieldset>
      <table className="modes">
        <caption>
          What this camera does in each mode{' '}
          {cam.modes ? (
            <button type="button" onClick={() => setCam({ ...cam, modes: undefined })}>
              Use the defaults for {placement === 'indoor' ? 'an indoor' : 'an outdoor'} camera
            </button>
          ) : (
            <span className="muted">(the defaults for {placement === 'indoor' ? 'an indoor' : 'an outdoor'} camera)</span>
          )}
        </caption>
        <thead>
          <tr>
            <th scope="col">Mode</th>
            <th scope="col">Record</th>
            <th scope="col">Notify</th>
          </tr>
        </thead>
        <tbody>
          {MODES.map((m) => (
            <tr key={m}>
              <th scope="row">{MODE_NAMES[m]}</th>
              {(['record', 'notify'] as const).map((k) => (
                <td key={k}>
                  <input
                    type="checkbox"
                    aria-label={`${k === 'record' ? 'Record' : 'Notify'} when ${MODE_NAMES[m]}`}
                    checked={modes[m][k]}
                    onChange={(e) => setCam({ ...cam, modes: { ...modes, [m]: { ...modes[m], [k]: e.target.checked } } })}
                  />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {p.facts?.doorbell && <p className="muted">Doorbell presses record and notify in every mode.</p>}
      {p.facts && (
        <p className="muted" data-testid={`sound-${p.camera}`}>
          {p.facts.records_sound
            ? 'Sound: recorded with the picture (audio.record is on in your camera hub’s configuration). Clips you post or share leave it out unless you keep it.'
            : 'Sound: not recorded. Recording sound is off unless you turn it on, because recording conversations without the consent of those speaking is restricted or forbidden in many places; check the law where the camera is. To record it, set audio.record in your camera hub’s configuration. Listening live and talking work either way.'}
        </p>
      )}
      <button type="submit" disabled={busy}>
        Save {title}
      </button>
      <Feedback error={error} ok={ok} />
    </form>
  );
}

const fmt = (pts: Point[]) => pts.map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`).join(' ');

function parsePoints(text: string): Point[] {
  const pts = text
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((pair, i) => {
      const parts = pair.split(',').map(Number);
      const x = parts.length === 2 ? (parts[0] ?? NaN) : NaN;
      const y = parts[1] ?? NaN;
      if (!Number.isFinite(x) || !Number.isFinite(y) || x < 0 || x > 1 || y < 0 || y > 1) {
        throw new Error(`point ${i + 1} (${pair}): expected x,y with fractions 0 to 1`);
      }
      return [x, y] as Point;
    });
  if (pts.length < 3) throw new Error('a shape needs at least 3 points');
  return pts;
}

/**
 * Zones and privacy masks drawn on the camera's latest snapshot: click to place points,
 * then keep the outline as a named zone or as a mask. The same outline can be typed as
 * `x,y x,y …` (fractions of the width and height) for keyboard use.
 */
function ZoneEditor(p: { camera: string; snapshot: string | null; keys: Keyring; cam: CameraSettings; onChange: (c: CameraSettings) => void }) {
  const [url, setUrl] = useState<string | null>(null);
  const [draft, setDraftOnly] = useState<Point[]>([]);
  const [text, setText] = useState('');
  const setDraft = (pts: Point[]) => {
    setDraftOnly(pts);
    setText(fmt(pts));
  };
  const [name, setName] = useState('');
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    if (!p.snapshot) return;
    let live = true;
    imageUrl(p.snapshot, p.keys).then(
      (u) => live && setUrl(u),
      (e: Error) => live && setErr(`The snapshot cannot be opened: ${e.message}`),
    );
    return () => {
      live = false;
    };
  }, [p.snapshot, p.keys]);
  const zones = p.cam.zones ?? [];
  const masks = p.cam.masks ?? [];
  const click = (e: MouseEvent<SVGSVGElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    const y = Math.min(1, Math.max(0, (e.clientY - r.top) / r.height));
    setDraft([...draft, [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000]]);
  };
  const keep = (as: 'zone' | 'mask') => {
    setErr(null);
    try {
      if (text.trim() && text !== fmt(draft)) parsePoints(text);
      if (draft.length < 3) throw new Error('place at least 3 points on the picture (or type them)');
      if (as === 'zone') {
        if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new Error('zone name: 1 to 32 letters, digits, - or _');
        if (zones.some((z) => z.name === name)) throw new Error(`zone name: ${name} is taken`);
        const next = { ...p.cam, zones: [...zones, { name, points: draft }] };
        checkSettings({ mode: 'home', cameras: { [p.camera]: next } });
        p.onChange(next);
      } else {
        const next = { ...p.cam, masks: [...masks, draft] };
        checkSettings({ mode: 'home', cameras: { [p.camera]: next } });
        p.onChange(next);
      }
      setDraft([]);
      setName('');
    } catch (e) {
      setErr(message(e));
    }
  };
  const poly = (pts: Point[]) => pts.map(([x, y]) => `${x * 100},${y * 100}`).join(' ');
  return (
    <fieldset className="zones">
      <legend>Motion zones and privacy masks</legend>
      <div className="zone-canvas">
        {url ? <img src={url} alt={`Latest snapshot from ${p.camera}`} /> : <div className="thumb-note">{p.snapshot ? 'Opening the snapshot…' : 'No snapshot yet: shapes can still be typed'}</div>}
        <svg viewBox="0 0 100 100" preserveAspectRatio="none" onClick={click} role="img" aria-label="Drawing area: click to place points" data-testid={`draw-${p.camera}`}>
          {zones.map((z) => (
            <polygon key={z.name} points={poly(z.points)} className="zone" />
          ))}
          {masks.map((m, i) => (
            <polygon key={i} points={poly(m)} className="mask" />
          ))}
          {draft.length > 0 && <polyline points={poly(draft)} className="draft" />}
          {draft.map(([x, y], i) => (
            <circle key={i} cx={x * 100} cy={y * 100} r={1.2} className="draft" />
          ))}
        </svg>
      </div>
      <label className="field">
        <span>Outline being drawn (x,y fractions; or click the picture)</span>
        <input
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            try {
              setDraftOnly(parsePoints(e.target.value));
              setErr(null);
            } catch {
              // Still typing; `keep` says what is wrong if it stays so.
            }
          }}
        />
      </label>
      <div className="row">
        <label className="field">
          <span>Zone name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={32} />
        </label>
        <button type="button" onClick={() => keep('zone')}>
          Keep as zone
        </button>
        <button type="button" onClick={() => keep('mask')}>
          Keep as privacy mask
        </button>
        <button type="button" onClick={() => setDraft(draft.slice(0, -1))} disabled={draft.length === 0}>
          Undo point
        </button>
      </div>
      {err && <p role="alert">{err}</p>}
      <ul className="shapes">
        {zones.map((z) => (
          <li key={z.name}>
            Zone <strong>{z.name}</strong> ({z.points.length} points){' '}
            <button type="button" onClick={() => p.onChange({ ...p.cam, zones: zones.filter((x) => x !== z) })}>
              Remove zone {z.name}
            </button>
          </li>
        ))}
        {masks.map((m, i) => (
          <li key={`m${i}`}>
            Privacy mask {i + 1} ({m.length} points){' '}
            <button type="button" onClick={() => p.onChange({ ...p.cam, masks: masks.filter((x) => x !== m) })}>
              Remove mask {i + 1}
            </button>
          </li>
        ))}
      </ul>
      <p className="muted">Motion counts only inside zones (anywhere when there is none); masked areas are never looked at.</p>
    </fieldset>
  );
}
