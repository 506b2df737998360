// Talking through a camera (crates/crypto/src/talk.rs has the format): the browser makes a
// fresh key for the session, wraps it for each of the household's agents, and signs a
// request naming the camera with the member's identity key; the microphone (with the
// browser's echo cancellation) is encoded to Opus with WebCodecs, and each packet is sealed
// with the session key and posted to the server, which passes it to the agent. The server
// holds no key that opens a packet; the agent plays only those that open, in order.
import { type Schemas, call } from './api';
import { FormatError, Writer, concat, hex, unhex, utf8 } from './crypto/bytes';
import { type Keyring, WRAP_INFO, aesSeal, edPublic, edSign, hpkeSeal, keyId, parsePublicKeys, randomBytes } from './crypto/format';

const DOMAIN = 'porchlight/talk/v1';
export const RECIPIENTS_MAX = 16;
const OPUS_MAX = 1275;

export type TalkState = Schemas['TalkState'];
export type TalkInfo = Schemas['TalkJson'];

/** A signed talk request and the session's key, for `agents` (their encryption keys). */
export async function talkRequest(keys: Keyring, household: string, camera: string, agents: Uint8Array[], issuedMs: number) {
  const cam = utf8(camera);
  if (cam.length < 1 || cam.length > 64) throw new FormatError('camera: 1 to 64 bytes');
  if (agents.length < 1 || agents.length > RECIPIENTS_MAX) throw new FormatError(`talk: 1 to ${RECIPIENTS_MAX} agents`);
  const hh = unhex(household);
  const talkId = randomBytes(16);
  const key = randomBytes(32);
  const aad = concat(utf8(DOMAIN), Uint8Array.of(0), hh, talkId);
  const w = new Writer()
    .bytes(utf8('PLTR'))
    .u8(1)
    .bytes(hh)
    .u8(cam.length)
    .bytes(cam)
    .bytes(talkId)
    .i64(issuedMs)
    .bytes(await edPublic(keys.identitySeed))
    .u8(agents.length);
  for (const a of agents) {
    const { enc, ct } = await hpkeSeal(a, WRAP_INFO, aad, key);
    w.bytes(await keyId(a)).bytes(enc).bytes(ct);
  }
  const body = w.done();
  return { request: concat(body, await edSign(keys.identitySeed, DOMAIN, body)), key, talkId };
}

/** Seals Opus packets in order, each framed (u32 length) as the server takes them. */
export class TalkSealer {
  private next = 1;
  constructor(
    private key: Uint8Array,
    private talkId: Uint8Array,
  ) {}

  async seal(opus: Uint8Array): Promise<Uint8Array> {
    if (opus.length < 1 || opus.length > OPUS_MAX) throw new FormatError(`talk: an Opus packet of ${opus.length} bytes`);
    const seq = new Uint8Array(8);
    new DataView(seq.buffer).setBigUint64(0, BigInt(this.next));
    const nonce = new Uint8Array(12);
    nonce.set(seq, 4);
    this.next += 1;
    const ct = await aesSeal(this.key, nonce, opus, concat(utf8('PLTP'), this.talkId, seq));
    return new Writer()
      .u32(8 + ct.length)
      .bytes(seq)
      .bytes(ct)
      .done();
  }
}

export const talkInfo = (hid: string) => call<TalkInfo>('GET', `/api/households/${hid}/talk`);

// WebCodecs and MediaStreamTrackProcessor, as far as this file uses them (Chromium has
// both; TypeScript's DOM library does not declare the processor yet).
declare const MediaStreamTrackProcessor: new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<AudioData> };

/**
 * One talk session: the microphone to the camera's speaker until `stop`. `onState` hears
 * where it stands (connecting, talking, ended with the reason).
 */
export class Talker {
  private stopped = false;
  private queue: Uint8Array[] = [];
  private wake: (() => void) | null = null;
  private cleanup: (() => void)[] = [];
  private sid: string | null = null;

  constructor(
    private household: string,
    private camera: string,
    private keys: Keyring,
    private onState: (s: TalkState) => void,
  ) {}

  async start(): Promise<void> {
    const info = await talkInfo(this.household);
    const agents = await Promise.all(info.agent_keys.slice(0, RECIPIENTS_MAX).map(async (b) => (await parsePublicKeys(unhex(b))).encryption));
    if (agents.length === 0) throw new Error('No agent of this household has published its keys yet.');
    // The microphone first: a refusal here should not open a session.
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 } });
    this.cleanup.push(() => mic.getTracks().forEach((t) => t.stop()));
    // Through an AudioContext at 48 kHz, Opus's own rate, whatever rate the microphone has.
    const ctx = new AudioContext({ sampleRate: 48_000 });
    this.cleanup.push(() => void ctx.close());
    const dest = ctx.createMediaStreamDestination();
    dest.channelCount = 1;
    ctx.createMediaStreamSource(mic).connect(dest);
    const { request, key, talkId } = await talkRequest(this.keys, this.household, this.camera, agents, Date.now());
    const started = await call<{ session_id: string }>('POST', `/api/households/${this.household}/talk`, { request: hex(request) });
    this.sid = started.session_id;
    this.onState({ stage: 'connecting' });
    const sealer = new TalkSealer(key, talkId);
    let sealing = Promise.resolve();
    const encoder = new AudioEncoder({
      output: (chunk) => {
        const b = new Uint8Array(chunk.byteLength);
        chunk.copyTo(b);
        sealing = sealing.then(async () => {
          this.queue.push(await sealer.seal(b));
          this.wake?.();
        });
      },
      error: (e) => this.fail(e.message),
    });
    // Constant bit rate: packet sizes that vary with speech would tell the relay what was said.
    encoder.configure({ codec: 'opus', sampleRate: 48_000, numberOfChannels: 1, bitrate: 24_000, bitrateMode: 'constant', opus: { frameDuration: 20_000 } } as AudioEncoderConfig);
    this.cleanup.push(() => encoder.state !== 'closed' && encoder.close());
    const reader = new MediaStreamTrackProcessor({ track: dest.stream.getAudioTracks()[0]! }).readable.getReader();
    this.cleanup.push(() => void reader.cancel());
    void (async () => {
      while (!this.stopped) {
        const { value, done } = await reader.read();
        if (done || !value) break;
        if (encoder.state === 'configured') encoder.encode(value);
        value.close();
      }
    })();
    void this.send();
  }

  /** Posts what is sealed as soon as the previous post is answered (batching while one is in flight). */
  private async send(): Promise<void> {
    while (!this.stopped) {
      if (this.queue.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      const body = concat(...this.queue.splice(0));
      try {
        const s = await call<TalkState>('POST', `/api/talk/${this.sid}`, body);
        this.onState(s);
        if (s.stage === 'ended') {
          this.fail(s.error ?? null);
          return;
        }
      } catch (e) {
        this.fail((e as Error).message);
        return;
      }
    }
  }

  private fail(message: string | null) {
    if (this.stopped) return;
    this.onState({ stage: 'ended', error: message ?? undefined });
    void this.stop();
  }

  /** Ends the session: the microphone is released and the agent's stream ends. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    for (const c of this.cleanup.splice(0)) c();
    if (this.sid) await call('DELETE', `/api/talk/${this.sid}`).catch(() => undefined);
  }
}
