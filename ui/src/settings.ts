// Household settings (design/crypto-format.md, "Settings"): camera names, motion zones,
// privacy masks, sensitivity and the Disarmed/Home/Away modes. The owner's browser seals
// them to every member and every agent of the household and signs them; the server only
// relays the bytes, so it learns neither the layout of the home nor when it is empty, and
// the agents obey only the owner's signature with a serial higher than the last.
import { ApiError, api } from './api';
import { FormatError, Reader, Writer, concat, hex, unhex, utf8 } from './crypto/bytes';
import {
  type Keyring,
  WRAP_INFO,
  aesOpen,
  aesSeal,
  edPublic,
  edSign,
  edVerify,
  hpkeOpen,
  hpkeSeal,
  keyId,
  p256Public,
  parsePublicKeys,
  randomBytes,
} from './crypto/format';

export const MODES = ['disarmed', 'home', 'away'] as const;
export type Mode = (typeof MODES)[number];
export type Point = [number, number];

export interface ModeRule {
  record: boolean;
  notify: boolean;
}

export interface Zone {
  name: string;
  points: Point[];
}

export interface CameraSettings {
  /** What the app calls the camera; the agent's own name is the key. */
  label?: string;
  /** Motion sensitivity, 1 to 100 (absent: the agent's configuration). */
  sensitivity?: number;
  /** Absent: the agent's configured zones; present (even empty): these replace them. */
  zones?: Zone[];
  masks?: Point[][];
  /** Where it looks from (absent: the agent's configuration, else outdoor); decides the modes' defaults. */
  placement?: Placement;
  /** What the camera does in each mode (absent: the defaults for its placement, `defaultModes`). */
  modes?: Record<Mode, ModeRule>;
}

export const PLACEMENTS = ['outdoor', 'indoor'] as const;
export type Placement = (typeof PLACEMENTS)[number];

export interface HouseholdSettings {
  mode: Mode;
  cameras: Record<string, CameraSettings>;
}

export const EMPTY: HouseholdSettings = { mode: 'home', cameras: {} };
export const ALL_ON: Record<Mode, ModeRule> = {
  disarmed: { record: true, notify: true },
  home: { record: true, notify: true },
  away: { record: true, notify: true },
};

const ON: ModeRule = { record: true, notify: true };
const OFF: ModeRule = { record: false, notify: false };

/**
 * What each mode does to a camera the owner has not set rules for, as the agent decides it
 * (crates/agent/src/remote.rs): Disarmed nothing, Home only outdoor cameras, Away all.
 * A doorbell's presses record and notify in every mode regardless (`effectiveRule`).
 */
export function defaultModes(placement: Placement): Record<Mode, ModeRule> {
  return { disarmed: OFF, home: placement === 'outdoor' ? ON : OFF, away: ON };
}

const DOMAIN = 'porchlight/settings/v1';
const RECIPIENTS_MAX = 64;
const BODY_MAX = 256 * 1024;

function wrapAad(household: Uint8Array, serial: number): Uint8Array {
  return concat(utf8(DOMAIN), Uint8Array.of(0), household, new Writer().i64(serial).done());
}

/** Deterministic inputs for the test vectors; never pass them otherwise. */
export interface Fixed {
  key: Uint8Array;
  nonce: Uint8Array;
  ephemerals: Uint8Array[];
}

export async function sealSettings(
  owner: Keyring,
  household: string,
  serial: number,
  issuedMs: number,
  recipients: Uint8Array[],
  body: Uint8Array,
  fixed?: Fixed,
): Promise<Uint8Array> {
  if (recipients.length < 1 || recipients.length > RECIPIENTS_MAX) throw new FormatError(`settings: 1 to ${RECIPIENTS_MAX} recipients`);
  if (body.length > BODY_MAX) throw new FormatError(`settings: the body is over ${BODY_MAX} bytes`);
  const hh = unhex(household);
  const key = fixed?.key ?? randomBytes(32);
  const nonce = fixed?.nonce ?? randomBytes(12);
  const w = new Writer()
    .bytes(utf8('PLCF'))
    .u8(1)
    .bytes(hh)
    .i64(serial)
    .i64(issuedMs)
    .bytes(await edPublic(owner.identitySeed))
    .u8(recipients.length);
  const aad = wrapAad(hh, serial);
  for (const [i, pk] of recipients.entries()) {
    const { enc, ct } = await hpkeSeal(pk, WRAP_INFO, aad, key, fixed?.ephemerals[i]);
    w.bytes(await keyId(pk)).bytes(enc).bytes(ct);
  }
  const head = w.done();
  const sealed = await aesSeal(key, nonce, body, head);
  const signed = concat(head, nonce, new Writer().u32(sealed.length).done(), sealed);
  return concat(signed, await edSign(owner.identitySeed, DOMAIN, signed));
}

export interface Parsed {
  household: string;
  serial: number;
  issuedMs: number;
  signer: Uint8Array;
  /** Hex key ids of the recipients. */
  keyIds: string[];
  open(k: Keyring): Promise<Uint8Array>;
}

/** Parses a settings document and checks its signer's signature (whether the signer is the owner is the caller's check). */
export async function parseSettings(b: Uint8Array): Promise<Parsed> {
  const r = new Reader(b, 'settings');
  r.magic('PLCF');
  const hh = r.take(16).slice();
  const serial = r.u64();
  const issuedMs = r.i64();
  const signer = r.take(32).slice();
  const n = r.u8();
  if (n < 1 || n > RECIPIENTS_MAX) throw new FormatError(`settings: ${n} recipients`);
  const wraps = Array.from({ length: n }, () => ({ keyId: r.take(16).slice(), enc: r.take(65).slice(), ct: r.take(48).slice() }));
  const headEnd = r.pos;
  const nonce = r.take(12).slice();
  const len = r.u32();
  if (len < 16 || len > BODY_MAX + 16) throw new FormatError(`settings: body length ${len}`);
  const sealed = r.take(len).slice();
  const signedEnd = r.pos;
  const sig = r.take(64);
  r.end();
  if (!(await edVerify(signer, DOMAIN, b.subarray(0, signedEnd), sig))) throw new FormatError('settings: the signature does not verify');
  const head = b.slice(0, headEnd);
  return {
    household: hex(hh),
    serial,
    issuedMs,
    signer,
    keyIds: wraps.map((w) => hex(w.keyId)),
    async open(k: Keyring) {
      for (const secret of [k.encryptionSecret, ...k.previous]) {
        const id = hex(await keyId(await p256Public(secret)));
        const w = wraps.find((x) => hex(x.keyId) === id);
        if (w) return aesOpen(await hpkeOpen(secret, w.enc, WRAP_INFO, wrapAad(hh, serial), w.ct), nonce, sealed, head);
      }
      throw new FormatError('settings: not sealed for your keys');
    },
  };
}

// --- The JSON inside, checked the way the agent checks it ---

function checkPoints(what: string, pts: unknown): Point[] {
  if (!Array.isArray(pts) || pts.length < 3 || pts.length > 64) throw new FormatError(`${what}: expected 3 to 64 points`);
  return pts.map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((c) => typeof c === 'number' && c >= 0 && c <= 1)) {
      throw new FormatError(`${what}: point ${i} is not [x, y] with fractions 0 to 1`);
    }
    return [p[0], p[1]] as Point;
  });
}

/** Parses and checks the settings JSON; throws FormatError naming the field. */
export function checkSettings(v: unknown): HouseholdSettings {
  const o = v as HouseholdSettings;
  if (typeof o !== 'object' || o === null) throw new FormatError('settings: not an object');
  if (!MODES.includes(o.mode)) throw new FormatError(`settings.mode: expected one of ${MODES.join(', ')}`);
  if (typeof o.cameras !== 'object' || o.cameras === null) throw new FormatError('settings.cameras: not an object');
  const cameras: Record<string, CameraSettings> = {};
  for (const [name, c] of Object.entries(o.cameras)) {
    const what = `settings.cameras.${name}`;
    const out: CameraSettings = {};
    if (c.label !== undefined) {
      if (typeof c.label !== 'string' || c.label.trim().length < 1 || c.label.length > 48) throw new FormatError(`${what}.label: 1 to 48 characters`);
      out.label = c.label.trim();
    }
    if (c.sensitivity !== undefined) {
      if (!Number.isInteger(c.sensitivity) || c.sensitivity < 1 || c.sensitivity > 100) throw new FormatError(`${what}.sensitivity: a whole number 1 to 100`);
      out.sensitivity = c.sensitivity;
    }
    if (c.zones !== undefined) {
      const seen = new Set<string>();
      out.zones = c.zones.map((z, j) => {
        if (typeof z.name !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(z.name) || seen.has(z.name)) {
          throw new FormatError(`${what}.zones[${j}].name: a unique name of 1 to 32 letters, digits, - or _`);
        }
        seen.add(z.name);
        return { name: z.name, points: checkPoints(`${what}.zones[${j}]`, z.points) };
      });
    }
    if (c.masks !== undefined) out.masks = c.masks.map((m, j) => checkPoints(`${what}.masks[${j}]`, m));
    if (c.placement !== undefined) {
      if (!PLACEMENTS.includes(c.placement)) throw new FormatError(`${what}.placement: expected one of ${PLACEMENTS.join(', ')}`);
      out.placement = c.placement;
    }
    if (c.modes !== undefined) {
      out.modes = { ...ALL_ON };
      for (const m of MODES) {
        const r = c.modes[m];
        if (typeof r?.record !== 'boolean' || typeof r?.notify !== 'boolean') throw new FormatError(`${what}.modes.${m}: expected {record, notify} booleans`);
        out.modes[m] = { record: r.record, notify: r.notify };
      }
    }
    cameras[name] = out;
  }
  return { mode: o.mode, cameras };
}

export function encodeBody(s: HouseholdSettings): Uint8Array {
  return utf8(JSON.stringify(checkSettings(s)));
}

export function decodeBody(b: Uint8Array): HouseholdSettings {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(b));
  } catch {
    throw new FormatError('settings: the body is not JSON');
  }
  return checkSettings(v);
}

/** What the agent says of a camera (its status report): a doorbell, placed indoors. */
export interface CameraFacts {
  doorbell: boolean;
  indoor: boolean;
  /** The agent's configuration records its sound (`audio.record`). */
  records_sound?: boolean;
}

/** The camera's placement: the owner's setting, else the agent's configuration. */
export function placementOf(s: HouseholdSettings, camera: string, facts?: CameraFacts | null): Placement {
  return s.cameras[camera]?.placement ?? (facts?.indoor ? 'indoor' : 'outdoor');
}

/** The camera's rules in every mode: the owner's, else the defaults for its placement. */
export function modesOf(s: HouseholdSettings, camera: string, facts?: CameraFacts | null): Record<Mode, ModeRule> {
  return s.cameras[camera]?.modes ?? defaultModes(placementOf(s, camera, facts));
}

/** Whether a camera records / notifies in the household's current mode (a doorbell's presses aside). */
export function ruleFor(s: HouseholdSettings, camera: string, facts?: CameraFacts | null): ModeRule {
  return modesOf(s, camera, facts)[s.mode];
}

/** Whether the camera's stream is recorded in the current mode: by default a doorbell's always is (for its presses' clips). */
export function recordsFor(s: HouseholdSettings, camera: string, facts?: CameraFacts | null): boolean {
  return ruleFor(s, camera, facts).record || (!!facts?.doorbell && !s.cameras[camera]?.modes);
}

/** One line for a camera's card: what the current mode does to it. */
export function modeEffect(s: HouseholdSettings, camera: string, facts: CameraFacts | null, modeName: string): string {
  const r = ruleFor(s, camera, facts);
  if (facts?.doorbell && !r.notify) return `Only doorbell presses in ${modeName}`;
  if (!r.record) return `Not recording in ${modeName}`;
  if (!r.notify) return `Recording, not notifying in ${modeName}`;
  return `Recording and notifying in ${modeName}`;
}

// --- Fetching, saving, keeping the recipients current ---

export interface Loaded {
  serial: number;
  settings: HouseholdSettings;
  keyIds: string[];
}

/** The household's settings as the server relays them, opened with `keys`; null when none were saved yet. */
export async function loadSettings(hid: string, keys: Keyring): Promise<Loaded | null> {
  let r: { serial: number; settings: string };
  try {
    r = await api.settings(hid);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
  const p = await parseSettings(unhex(r.settings));
  if (p.household !== hid) throw new FormatError('settings: sealed for another household');
  return { serial: p.serial, settings: decodeBody(await p.open(keys)), keyIds: p.keyIds };
}

/** Who the owner seals to: themselves, every member who has keys, every agent that published its keys. */
async function recipients(hid: string, owner: Keyring): Promise<Uint8Array[]> {
  const [members, devices] = await Promise.all([api.members(hid), api.devices(hid)]);
  const bundles = [
    ...members.map((m) => m.public_keys),
    ...devices.filter((d) => d.revoked_ms === null).map((d) => d.public_keys),
  ].filter((b): b is string => !!b);
  const out = new Map<string, Uint8Array>();
  const mine = await p256Public(owner.encryptionSecret);
  out.set(hex(mine), mine);
  for (const b of bundles) {
    const k = await parsePublicKeys(unhex(b));
    out.set(hex(k.encryption), k.encryption);
  }
  return [...out.values()].slice(0, RECIPIENTS_MAX);
}

/** Seals and uploads `next` with the serial after `prev`; returns the new serial. */
export async function saveSettings(hid: string, owner: Keyring, next: HouseholdSettings, prev: number): Promise<number> {
  const body = encodeBody(next);
  const sealed = await sealSettings(owner, hid, prev + 1, Date.now(), await recipients(hid, owner), body);
  const serial = (await api.putSettings(hid, hex(sealed))).serial;
  // Screens that show camera names (names.ts) read them again.
  globalThis.dispatchEvent?.(new CustomEvent('porchlight:settings-saved', { detail: hid }));
  return serial;
}

/**
 * The owner's app re-seals the settings when a member or an agent that should read them
 * cannot (joined or paired after the last save); null when nothing was needed.
 */
export async function resealIfNeeded(hid: string, owner: Keyring): Promise<number | null> {
  const cur = await loadSettings(hid, owner);
  if (!cur) return null;
  const want = await recipients(hid, owner);
  const ids = await Promise.all(want.map(async (k) => hex(await keyId(k))));
  if (ids.every((id) => cur.keyIds.includes(id))) return null;
  return saveSettings(hid, owner, cur.settings, cur.serial);
}
