// Porchlight's crypto format, version 1, in the browser (design/crypto-format.md), on
// WebCrypto alone: AES-256-GCM, ECDH P-256, HMAC-SHA256, SHA-256, Ed25519. Passes the
// same test vectors as the Rust crate (crates/crypto/testdata/vectors.json, checked by
// format.test.ts). Keys never leave this module as raw bytes except inside a keyring,
// which leaves the browser only sealed by a recovery code (backup).

import { FormatError, Reader, Writer, buf, concat, equal, utf8 } from './bytes';

export { FormatError };

const subtle = globalThis.crypto.subtle;

export const CHUNK = 65536;
export const TAG = 16;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const WRAP_INFO = utf8('porchlight/content-key/v1');

export const KIND = { clip: 1, snapshot: 2, thumbnail: 3, meta: 4 } as const;

export class VerifyError extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'VerifyError';
  }
}

export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

export async function sha256(b: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest('SHA-256', buf(b)));
}

async function hmac(key: Uint8Array, msg: Uint8Array): Promise<Uint8Array> {
  const k = await subtle.importKey('raw', buf(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, buf(msg)));
}

/** HKDF-Extract (RFC 5869); an empty salt is 32 zero bytes. */
export function extract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return hmac(salt.length ? salt : new Uint8Array(32), ikm);
}

/** HKDF-Expand (RFC 5869). */
export async function expand(prk: Uint8Array, info: Uint8Array, n: number): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, got = 0; got < n; i++) {
    t = await hmac(prk, concat(t, info, Uint8Array.of(i)));
    out.push(t);
    got += t.length;
  }
  return concat(...out).slice(0, n);
}

// --- AES-256-GCM ---

async function aesKey(key: Uint8Array, use: KeyUsage[]): Promise<CryptoKey> {
  return subtle.importKey('raw', buf(key), 'AES-GCM', false, use);
}

export async function aesOpen(key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  try {
    const k = await aesKey(key, ['decrypt']);
    const p = { name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: 128 };
    return new Uint8Array(await subtle.decrypt(p, k, buf(ct)));
  } catch {
    throw new VerifyError('authentication failed');
  }
}

export async function aesSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const k = await aesKey(key, ['encrypt']);
  const p = { name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: 128 };
  return new Uint8Array(await subtle.encrypt(p, k, buf(pt)));
}

// --- Body: chunked AES-256-GCM ("STREAM") ---

export function streamNonce(prefix: Uint8Array, i: number, last: boolean): Uint8Array {
  return new Writer().bytes(prefix).u32(i).u8(last ? 1 : 0).done();
}

export function chunkCount(plaintextLen: number): number {
  return Math.max(1, Math.ceil(plaintextLen / CHUNK));
}

export function sealedLen(plaintextLen: number): number {
  return plaintextLen + TAG * chunkCount(plaintextLen);
}

/** Opens sealed chunk `i` of a body whose plaintext is `plaintextLen` bytes long. */
export class StreamOpener {
  private key: Promise<CryptoKey>;
  constructor(
    contentKey: Uint8Array,
    private prefix: Uint8Array,
    readonly plaintextLen: number,
  ) {
    this.key = aesKey(contentKey, ['decrypt']);
  }
  get chunks(): number {
    return chunkCount(this.plaintextLen);
  }
  /** Byte range of sealed chunk `i` within the body. */
  range(i: number): [number, number] {
    const start = i * (CHUNK + TAG);
    const len = (i === this.chunks - 1 ? this.plaintextLen - i * CHUNK : CHUNK) + TAG;
    return [start, start + len];
  }
  async open(i: number, sealed: Uint8Array): Promise<Uint8Array> {
    if (i < 0 || i >= this.chunks) throw new FormatError(`chunk ${i} out of range`);
    const [a, b] = this.range(i);
    if (sealed.length !== b - a) throw new VerifyError(`chunk ${i}: wrong length`);
    const nonce = streamNonce(this.prefix, i, i === this.chunks - 1);
    try {
      const p = { name: 'AES-GCM', iv: buf(nonce), tagLength: 128 };
      return new Uint8Array(await subtle.decrypt(p, await this.key, buf(sealed)));
    } catch {
      throw new VerifyError(`chunk ${i} does not authenticate: the clip was altered or truncated`);
    }
  }
}

export async function streamOpen(key: Uint8Array, prefix: Uint8Array, plaintextLen: number, body: Uint8Array) {
  if (body.length !== sealedLen(plaintextLen)) throw new VerifyError('body length does not match the header');
  const s = new StreamOpener(key, prefix, plaintextLen);
  const out = new Uint8Array(plaintextLen);
  for (let i = 0; i < s.chunks; i++) {
    const [a, b] = s.range(i);
    out.set(await s.open(i, body.subarray(a, b)), i * CHUNK);
  }
  return out;
}

export async function streamSeal(key: Uint8Array, prefix: Uint8Array, pt: Uint8Array): Promise<Uint8Array> {
  const n = chunkCount(pt.length);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const c = pt.subarray(i * CHUNK, Math.min(pt.length, (i + 1) * CHUNK));
    parts.push(await aesSeal(key, streamNonce(prefix, i, i === n - 1), c, new Uint8Array(0)));
  }
  return concat(...parts);
}

// --- Ed25519 ---

const ED_PKCS8 = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);

export async function edVerify(pub: Uint8Array, domain: string, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (pub.length !== 32 || sig.length !== 64) return false;
  try {
    const k = await subtle.importKey('raw', buf(pub), { name: 'Ed25519' }, false, ['verify']);
    return await subtle.verify({ name: 'Ed25519' }, k, buf(sig), buf(concat(utf8(domain), Uint8Array.of(0), msg)));
  } catch {
    return false;
  }
}

async function edPrivate(seed: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', buf(concat(ED_PKCS8, seed)), { name: 'Ed25519' }, true, ['sign']);
}

export async function edPublic(seed: Uint8Array): Promise<Uint8Array> {
  const jwk = await subtle.exportKey('jwk', await edPrivate(seed));
  return b64(jwk.x);
}

export async function edSign(seed: Uint8Array, domain: string, msg: Uint8Array): Promise<Uint8Array> {
  const sig = await subtle.sign({ name: 'Ed25519' }, await edPrivate(seed), buf(concat(utf8(domain), Uint8Array.of(0), msg)));
  return new Uint8Array(sig);
}

// --- P-256 ---

function b64(s: string | undefined): Uint8Array {
  if (!s) throw new FormatError('key export without a field');
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(t + '='.repeat((4 - (t.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

function b64u(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// PKCS#8 for a P-256 private key with no public key (RFC 5915 lets it be omitted;
// WebCrypto computes it), so a 32-byte scalar imports without point arithmetic here.
const P256_PKCS8 = Uint8Array.of(
  0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
  0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
);

async function p256Private(scalar: Uint8Array): Promise<CryptoKey> {
  if (scalar.length !== 32) throw new FormatError('P-256 secret: 32 bytes');
  try {
    return await subtle.importKey('pkcs8', buf(concat(P256_PKCS8, scalar)), { name: 'ECDH', namedCurve: 'P-256' }, true, [
      'deriveBits',
    ]);
  } catch {
    throw new FormatError('P-256 secret: not a valid scalar');
  }
}

export async function p256Public(scalar: Uint8Array): Promise<Uint8Array> {
  const jwk = await subtle.exportKey('jwk', await p256Private(scalar));
  return concat(Uint8Array.of(4), b64(jwk.x), b64(jwk.y));
}

async function ecdh(scalar: Uint8Array, pub: Uint8Array): Promise<Uint8Array> {
  let pk: CryptoKey;
  try {
    pk = await subtle.importKey('raw', buf(pub), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  } catch {
    throw new VerifyError('not a P-256 point');
  }
  return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: pk }, await p256Private(scalar), 256));
}

export async function p256Generate(): Promise<Uint8Array> {
  const k = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
  return b64((await subtle.exportKey('jwk', k.privateKey)).d);
}

async function edGenerate(): Promise<Uint8Array> {
  const k = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return new Uint8Array(await subtle.exportKey('pkcs8', k.privateKey)).slice(-32);
}

// --- HPKE (RFC 9180), DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, base mode ---

const KEM_SUITE = concat(utf8('KEM'), Uint8Array.of(0x00, 0x10));
const HPKE_SUITE = concat(utf8('HPKE'), Uint8Array.of(0x00, 0x10, 0x00, 0x01, 0x00, 0x02));
const V1 = utf8('HPKE-v1');

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) {
  return extract(salt, concat(V1, suite, utf8(label), ikm));
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, n: number) {
  return expand(prk, concat(Uint8Array.of(n >> 8, n & 0xff), V1, suite, utf8(label), info), n);
}

async function keySchedule(dh: Uint8Array, enc: Uint8Array, pkR: Uint8Array, info: Uint8Array) {
  const prk = await labeledExtract(KEM_SUITE, new Uint8Array(0), 'eae_prk', dh);
  const shared = await labeledExpand(KEM_SUITE, prk, 'shared_secret', concat(enc, pkR), 32);
  const empty = new Uint8Array(0);
  const ctx = concat(
    Uint8Array.of(0),
    await labeledExtract(HPKE_SUITE, empty, 'psk_id_hash', empty),
    await labeledExtract(HPKE_SUITE, empty, 'info_hash', info),
  );
  const secret = await labeledExtract(HPKE_SUITE, shared, 'secret', empty);
  return {
    key: await labeledExpand(HPKE_SUITE, secret, 'key', ctx, 32),
    nonce: await labeledExpand(HPKE_SUITE, secret, 'base_nonce', ctx, 12),
  };
}

export async function hpkeOpen(skR: Uint8Array, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array) {
  const dh = await ecdh(skR, enc);
  const { key, nonce } = await keySchedule(dh, enc, await p256Public(skR), info);
  return aesOpen(key, nonce, ct, aad);
}

/** HPKE SealBase; `ephemeral` is for test vectors only (a fresh one otherwise). */
export async function hpkeSeal(pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, ephemeral?: Uint8Array) {
  const skE = ephemeral ?? (await p256Generate());
  const enc = await p256Public(skE);
  const dh = await ecdh(skE, pkR);
  const { key, nonce } = await keySchedule(dh, enc, pkR, info);
  return { enc, ct: await aesSeal(key, nonce, pt, aad) };
}

// --- Key ids, fingerprints, recovery codes ---

export async function keyId(encryptionPublic: Uint8Array): Promise<Uint8Array> {
  return (await sha256(concat(utf8('porchlight/key-id/v1'), Uint8Array.of(0), encryptionPublic))).slice(0, 16);
}

export function base32(b: Uint8Array): string {
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const x of b) {
    acc = ((acc << 8) | x) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31];
    }
  }
  if (bits) out += CROCKFORD[(acc << (5 - bits)) & 31];
  return out;
}

function group4(s: string): string {
  return s.match(/.{1,4}/g)?.join('-') ?? '';
}

/** Proof that this browser holds the identity key: its signature over the server's challenge. */
export async function provePossession(k: Keyring, challenge: Uint8Array): Promise<Uint8Array> {
  if (challenge.length !== 32) throw new FormatError('key challenge: 32 bytes');
  return edSign(k.identitySeed, 'porchlight/key-possession/v1', challenge);
}

export async function fingerprint(identity: Uint8Array): Promise<string> {
  const d = await sha256(concat(utf8('porchlight/fingerprint/v1'), Uint8Array.of(0), identity));
  return group4(base32(d.slice(0, 13)).slice(0, 20));
}

/** Normalises a typed code: case, spaces and dashes ignored, I/L read as 1, O as 0. */
export function normaliseCode(s: string): string {
  return s
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
}

export function showRecoveryCode(code: Uint8Array): string {
  return group4(base32(code));
}

export function parseRecoveryCode(s: string): Uint8Array {
  const t = normaliseCode(s);
  if (t.length !== 32) throw new FormatError(`recovery code: expected 32 characters, got ${t.length}`);
  const out = new Uint8Array(20);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (const c of t) {
    const v = CROCKFORD.indexOf(c);
    if (v < 0) throw new FormatError(`recovery code: ${c} is not a code character`);
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

// --- Public keys and keyring ---

export interface PublicKeys {
  identity: Uint8Array;
  encryption: Uint8Array;
  createdMs: number;
  label: string;
  bytes: Uint8Array;
}

export async function parsePublicKeys(b: Uint8Array): Promise<PublicKeys> {
  const r = new Reader(b, 'public keys');
  r.magic('PLPK');
  const identity = r.take(32).slice();
  const encryption = r.take(65).slice();
  const createdMs = r.i64();
  const label = r.text(1, 64, 'label');
  const signed = r.pos;
  const sig = r.take(64);
  r.end();
  if (!(await edVerify(identity, 'porchlight/public-keys/v1', b.subarray(0, signed), sig))) {
    throw new VerifyError('public keys: the self-signature does not verify');
  }
  return { identity, encryption, createdMs, label, bytes: b };
}

export interface Keyring {
  createdMs: number;
  label: string;
  identitySeed: Uint8Array;
  encryptionSecret: Uint8Array;
  previous: Uint8Array[];
}

export async function generateKeyring(label: string, createdMs: number): Promise<Keyring> {
  if (utf8(label).length < 1 || utf8(label).length > 64) throw new FormatError('label: 1 to 64 bytes');
  return { createdMs, label, identitySeed: await edGenerate(), encryptionSecret: await p256Generate(), previous: [] };
}

export function encodeKeyring(k: Keyring): Uint8Array {
  const w = new Writer().bytes(utf8('PLKR')).u8(1).i64(k.createdMs).text(k.label);
  w.bytes(k.identitySeed).bytes(k.encryptionSecret).u8(k.previous.length);
  for (const p of k.previous) w.bytes(p);
  return w.done();
}

export function parseKeyring(b: Uint8Array): Keyring {
  const r = new Reader(b, 'keyring');
  r.magic('PLKR');
  const createdMs = r.i64();
  const label = r.text(1, 64, 'label');
  const identitySeed = r.take(32).slice();
  const encryptionSecret = r.take(32).slice();
  const n = r.u8();
  if (n > 32) throw new FormatError(`keyring: at most 32 earlier keys, got ${n}`);
  const previous = Array.from({ length: n }, () => r.take(32).slice());
  r.end();
  return { createdMs, label, identitySeed, encryptionSecret, previous };
}

export async function publicKeys(k: Keyring): Promise<PublicKeys> {
  const identity = await edPublic(k.identitySeed);
  const encryption = await p256Public(k.encryptionSecret);
  const body = new Writer()
    .bytes(utf8('PLPK'))
    .u8(1)
    .bytes(identity)
    .bytes(encryption)
    .i64(k.createdMs)
    .text(k.label)
    .done();
  const sig = await edSign(k.identitySeed, 'porchlight/public-keys/v1', body);
  return { identity, encryption, createdMs: k.createdMs, label: k.label, bytes: concat(body, sig) };
}

// --- Key backup ---

const BACKUP_INFO = utf8('porchlight/backup/v1');

export async function sealBackup(k: Keyring, code: Uint8Array, salt = randomBytes(16), nonce = randomBytes(12)) {
  const key = await expand(await extract(salt, code), BACKUP_INFO, 32);
  const head = concat(utf8('PLBK'), Uint8Array.of(1), salt, nonce);
  return concat(head, await aesSeal(key, nonce, encodeKeyring(k), head));
}

export async function openBackup(b: Uint8Array, code: Uint8Array): Promise<Keyring> {
  const r = new Reader(b, 'key backup');
  r.magic('PLBK');
  const salt = r.take(16);
  const nonce = r.take(12);
  const key = await expand(await extract(salt, code), BACKUP_INFO, 32);
  try {
    return parseKeyring(await aesOpen(key, nonce, b.subarray(33), b.subarray(0, 33)));
  } catch (e) {
    if (e instanceof VerifyError) throw new VerifyError('key backup: wrong recovery code, or the backup was altered');
    throw e;
  }
}

// --- Sealed objects ---

export interface Recipient {
  keyId: Uint8Array;
  enc: Uint8Array;
  wrapped: Uint8Array;
}

export interface Header {
  headerLen: number;
  kind: number;
  objectId: Uint8Array;
  device: Uint8Array;
  camera: string;
  startMs: number;
  endMs: number;
  plaintextLen: number;
  noncePrefix: Uint8Array;
  bodyDigest: Uint8Array;
  recipients: Recipient[];
}

export const PREFIX_BYTES = 9;
export const HEADER_MAX = 4381;

/** `header_len` from the first 9 bytes of a sealed object. */
export function headerLen(prefix: Uint8Array): number {
  const r = new Reader(prefix.subarray(0, PREFIX_BYTES), 'object');
  r.magic('PLOB');
  const n = r.u32();
  if (n < PREFIX_BYTES || n > HEADER_MAX) throw new FormatError(`object: header length ${n} out of range`);
  return n;
}

/** Parses a sealed object's header and checks the device's signature over it. */
export async function parseHeader(b: Uint8Array): Promise<Header> {
  const headerLenV = headerLen(b);
  if (b.length < headerLenV) throw new FormatError('object: truncated header');
  const r = new Reader(b.subarray(0, headerLenV), 'object');
  r.magic('PLOB');
  r.u32();
  const kind = r.u8();
  if (kind < 1 || kind > 4) throw new FormatError(`object: unknown kind ${kind}`);
  const objectId = r.take(16).slice();
  const device = r.take(32).slice();
  const camera = r.text(1, 64, 'camera');
  const startMs = r.i64();
  const endMs = r.i64();
  if (endMs < startMs) throw new FormatError('object: ends before it starts');
  const plaintextLen = r.u64();
  if (r.u8() !== 16) throw new FormatError('object: chunk size other than 64 KiB');
  const noncePrefix = r.take(7).slice();
  const bodyDigest = r.take(32).slice();
  const n = r.u8();
  if (n < 1 || n > 32) throw new FormatError(`object: ${n} recipients`);
  const recipients = Array.from({ length: n }, () => ({
    keyId: r.take(16).slice(),
    enc: r.take(65).slice(),
    wrapped: r.take(48).slice(),
  }));
  const signed = r.pos;
  const sig = r.take(64);
  r.end();
  if (!(await edVerify(device, 'porchlight/object/v1', b.subarray(0, signed), sig))) {
    throw new VerifyError("the device's signature does not verify: this is not what the camera recorded");
  }
  return { headerLen: headerLenV, kind, objectId, device, camera, startMs, endMs, plaintextLen, noncePrefix, bodyDigest, recipients };
}

/** The content key of an object, unwrapped with whichever of the keyring's keys it was sealed to. */
export async function contentKey(h: Header, k: Keyring): Promise<Uint8Array> {
  const aad = concat(h.objectId, h.bodyDigest);
  for (const secret of [k.encryptionSecret, ...k.previous]) {
    const id = await keyId(await p256Public(secret));
    const r = h.recipients.find((x) => equal(x.keyId, id));
    if (r) return hpkeOpen(secret, r.enc, WRAP_INFO, aad, r.wrapped);
  }
  throw new VerifyError('this object was not shared with your keys');
}

/** Verifies and decrypts a whole sealed object. */
export async function openObject(sealed: Uint8Array, k: Keyring): Promise<{ header: Header; plaintext: Uint8Array }> {
  const header = await parseHeader(sealed);
  const body = sealed.subarray(header.headerLen);
  if (!equal(await sha256(body), header.bodyDigest)) {
    throw new VerifyError("the clip's bytes do not match the device's signature: it was altered");
  }
  const key = await contentKey(header, k);
  return { header, plaintext: await streamOpen(key, header.noncePrefix, header.plaintextLen, body) };
}

export { b64u as base64url };
