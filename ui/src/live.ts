// Live view (crates/crypto/src/live.rs has the format): the browser makes a fresh P-256
// key for the session and signs a request naming it with the member's identity key; the
// agent checks the signature against the owner's roster and streams fMP4 segments sealed
// for that key; the server only relays. Segments open in order, so anything dropped,
// repeated or altered on the way stops the stream.
import { type Schemas, call } from './api';
import { FormatError, Writer, concat, hex, unhex, utf8 } from './crypto/bytes';
import { type Keyring, WRAP_INFO, aesOpen, edPublic, edSign, hpkeOpen, p256Generate, p256Public } from './crypto/format';

const DOMAIN = 'porchlight/live/v1';
const SEGMENT_MAX = (8 << 20) + 16;

export async function liveRequest(keys: Keyring, household: string, camera: string, sessionPublic: Uint8Array, issuedMs: number) {
  const cam = utf8(camera);
  if (cam.length < 1 || cam.length > 64) throw new FormatError('camera: 1 to 64 bytes');
  const body = new Writer()
    .bytes(utf8('PLLR'))
    .u8(1)
    .bytes(unhex(household))
    .u8(cam.length)
    .bytes(cam)
    .bytes(sessionPublic)
    .i64(issuedMs)
    .bytes(await edPublic(keys.identitySeed))
    .done();
  return concat(body, await edSign(keys.identitySeed, DOMAIN, body));
}

function nonce(i: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(i));
  return n;
}

/** Opens a session's messages in order: the header (null), then each segment. */
export class LiveOpener {
  private key: Uint8Array | null = null;
  private next = 1;
  constructor(
    private secret: Uint8Array,
    private sessionPublic: Uint8Array,
  ) {}

  async open(payload: Uint8Array): Promise<Uint8Array | null> {
    if (!this.key) {
      if (payload.length !== 4 + 1 + 65 + 48 || new TextDecoder().decode(payload.subarray(0, 4)) !== 'PLLV' || payload[4] !== 1) {
        throw new FormatError('live: not a live stream header');
      }
      const aad = concat(utf8(DOMAIN), Uint8Array.of(0), this.sessionPublic);
      this.key = await hpkeOpen(this.secret, payload.subarray(5, 70), WRAP_INFO, aad, payload.subarray(70));
      return null;
    }
    const out = await aesOpen(this.key, nonce(this.next), payload, this.sessionPublic).catch(() => {
      throw new FormatError(`live: segment ${this.next} was altered, dropped or reordered on the way`);
    });
    this.next += 1;
    return out;
  }
}

/** Splits a byte stream into length-prefixed messages. */
export class Framer {
  private buf: Uint8Array = new Uint8Array(0);
  push(chunk: Uint8Array): Uint8Array[] {
    this.buf = concat(this.buf, chunk);
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.buf.length < 4) break;
      const len = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(0);
      if (len > SEGMENT_MAX) throw new FormatError(`live: a ${len}-byte message is too long`);
      if (this.buf.length < 4 + len) break;
      out.push(this.buf.slice(4, 4 + len));
      this.buf = this.buf.slice(4 + len);
    }
    return out;
  }
}

/**
 * One relayed session with the camera's agent: a fresh session key, a request signed with
 * the member's identity key posted to `path` with `body`, then the agent's messages read
 * from the relay and opened in order (the header is consumed, not yielded). Ends when the
 * agent's stream ends; throws when anything arrives altered, dropped or reordered.
 */
async function* relay(
  household: string,
  camera: string,
  keys: Keyring,
  path: string,
  body: Record<string, unknown>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const secret = await p256Generate();
  const pub = await p256Public(secret);
  const request = await liveRequest(keys, household, camera, pub, Date.now());
  const { session_id } = await call<{ session_id: string }>('POST', `/api/households/${household}/${path}`, { request: hex(request), ...body });
  const r = await fetch(`/api/live/${session_id}`, { credentials: 'same-origin', signal, cache: 'no-store' });
  if (!r.ok || !r.body) throw new Error(`the server answered ${r.status} to the ${path} request`);
  const reader = r.body.getReader();
  const framer = new Framer();
  const opener = new LiveOpener(secret, pub);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    for (const m of framer.push(value)) {
      const seg = await opener.open(m);
      if (seg) yield seg;
    }
  }
}

/**
 * The camera's picture now, from its agent (privacy masks black), sealed for this browser
 * alone; null when the agent has none (the camera is offline).
 */
export async function fetchStill(household: string, camera: string, keys: Keyring, signal: AbortSignal): Promise<Uint8Array | null> {
  for await (const jpeg of relay(household, camera, keys, 'still', {}, signal)) return jpeg.length > 0 ? jpeg : null;
  return null;
}

/** Quick reconnects allowed per minute before a live session's end is shown to the user. */
export const RECONNECTS_PER_MINUTE = 3;

/**
 * Whether a live session that ended after it played (the camera's timing jumped, its
 * connection dropped, the session reached its length) should be asked for again at once:
 * yes, a few times a minute; then the end is shown, with a way to try again. Records the
 * reconnect in `history` (times, ms) when it says yes.
 */
export function mayReconnect(history: number[], now: number = Date.now()): boolean {
  const recent = history.filter((t) => now - t < 60_000);
  history.splice(0, history.length, ...recent);
  if (recent.length >= RECONNECTS_PER_MINUTE) return false;
  history.push(now);
  return true;
}

/**
 * Starts live view of `camera` (`sub`: its sub-stream, for the grid) and hands each decrypted segment to `onSegment` until
 * `signal` aborts or the stream ends. Resolves when it ends; rejects with what went wrong.
 */
export async function watchLive(
  household: string,
  camera: string,
  keys: Keyring,
  onSegment: (s: Uint8Array) => void,
  signal: AbortSignal,
  sub = false,
  audio = false,
): Promise<void> {
  for await (const seg of relay(household, camera, keys, 'live', audio ? { audio } : { sub }, signal)) onSegment(seg);
}


/** What the agent says about a clip it prepared for posting (`wire::PreparedClip`, sealed for this browser). */
export type PreparedClip = Schemas['PreparedClip'];

/** What a prepared clip does with the camera's sound, for its preview. */
export function soundNote(c: PreparedClip): string {
  if (c.audio) return 'with the sound your camera recorded';
  if (c.audio_recorded) return 'sound left out (your camera recorded some; tick “Keep the sound” to include it)';
  return 'no sound';
}

export interface ClipAsk {
  start_ms: number;
  end_ms: number;
  people: boolean;
  faces: boolean;
  text: boolean;
  /** Also seal it as an object signed by the agent, for the household (to answer a footage request). */
  seal?: boolean;
  /** Keep the camera's recorded sound (default: left out). */
  keep_audio?: boolean;
}

/** Lower-case hex SHA-256. */
export async function sha256Hex(b: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>)));
}

/**
 * Asks the household's agent to prepare `camera`'s footage in `ask` for posting (people,
 * faces and text blurred there, where the footage is), and returns the agent's description
 * and the clip's bytes, sealed on the way for this browser alone. Rejects with the agent's
 * reason when it could not, and when what arrived is not what was asked for.
 */
export async function prepareClip(
  household: string,
  camera: string,
  keys: Keyring,
  ask: ClipAsk,
  signal: AbortSignal,
): Promise<{ made: PreparedClip; bytes: Uint8Array }> {
  let made: PreparedClip | null = null;
  const parts: Uint8Array[] = [];
  for await (const seg of relay(household, camera, keys, 'clips/prepare', { prepare: ask }, signal)) {
    if (made) {
      parts.push(seg);
      continue;
    }
    const d = JSON.parse(new TextDecoder().decode(seg)) as PreparedClip & Partial<Schemas['ClipFailed']>;
    if (d.error) throw new Error(`Your camera hub could not prepare the clip: ${d.error}`);
    made = d;
  }
  if (!made) throw new Error('Your camera hub did not answer (is it online?).');
  if (made.start_ms !== ask.start_ms || made.end_ms !== ask.end_ms || made.camera !== camera) {
    throw new Error('The prepared clip is not the stretch that was asked for; it was not used.');
  }
  const bytes = concat(...parts);
  if (bytes.length !== made.size_bytes || (await sha256Hex(bytes)) !== made.sha256) {
    throw new Error('The prepared clip arrived incomplete or altered; try again.');
  }
  return { made, bytes };
}

/** The agent's answer to a day-view request (`wire::HistoryReply`, sealed for this browser). */
export type HistoryReply = Schemas['HistoryReply'];

/**
 * Asks the household's agent for `camera`'s recorded runs between `from` and `until` and,
 * with `play`, the footage from that moment (the agent answers only inside this member's
 * footage window). Resolves with the reply as soon as it arrives; footage, decrypted, goes
 * to `onFootage` piece by piece until it ends or `signal` aborts (`done` settles then).
 */
export async function askHistory(
  household: string,
  camera: string,
  keys: Keyring,
  ask: { from_ms: number; until_ms: number; play_ms?: number },
  onFootage: (piece: Uint8Array) => void,
  signal: AbortSignal,
): Promise<{ reply: HistoryReply; done: Promise<void> }> {
  const messages = relay(household, camera, keys, 'history', { history: ask }, signal);
  const first = await messages.next();
  if (first.done) throw new Error('Your camera hub did not answer (is it online?).');
  const reply = JSON.parse(new TextDecoder().decode(first.value)) as HistoryReply;
  const done = (async () => {
    for await (const piece of messages) onFootage(piece);
  })();
  return { reply, done };
}
