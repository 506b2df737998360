// Grants: an object's content key wrapped for one more recipient, signed by whoever
// shared it: the format of crates/crypto/src/grant.rs (design/crypto-format.md). The
// owner's browser makes one per clip it shares with an agency; the agency's browser opens
// the clip with it.
import { FormatError, Reader, Writer, concat, equal, utf8 } from './bytes';
import {
  type Header,
  type Keyring,
  VerifyError,
  WRAP_INFO,
  contentKey,
  edPublic,
  edSign,
  edVerify,
  hpkeOpen,
  hpkeSeal,
  keyId,
  p256Public,
  parseHeader,
  sha256,
  streamOpen,
} from './format';

const DOMAIN = 'porchlight/grant/v1';
export const PURPOSE_MAX = 128;

export interface Grant {
  objectId: Uint8Array;
  bodyDigest: Uint8Array;
  granter: Uint8Array;
  grantedMs: number;
  purpose: string;
  keyId: Uint8Array;
  enc: Uint8Array;
  wrapped: Uint8Array;
  bytes: Uint8Array;
}

/** Wraps `h`'s content key (which `k` can open) for `recipient` (a P-256 public key), signed by `k`'s identity. */
export async function makeGrant(
  k: Keyring,
  h: Header,
  recipient: Uint8Array,
  purpose: string,
  grantedMs: number,
  ephemeral?: Uint8Array,
): Promise<Uint8Array> {
  if (utf8(purpose).length > PURPOSE_MAX) throw new FormatError('grant: purpose too long');
  const key = await contentKey(h, k);
  const { enc, ct } = await hpkeSeal(recipient, WRAP_INFO, concat(h.objectId, h.bodyDigest), key, ephemeral);
  const signed = new Writer()
    .bytes(utf8('PLGR'))
    .u8(1)
    .bytes(h.objectId)
    .bytes(h.bodyDigest)
    .bytes(await edPublic(k.identitySeed))
    .i64(grantedMs)
    .text(purpose)
    .bytes(await keyId(recipient))
    .bytes(enc)
    .bytes(ct)
    .done();
  return concat(signed, await edSign(k.identitySeed, DOMAIN, signed));
}

/** Parses a grant and checks the granter's signature. */
export async function parseGrant(b: Uint8Array): Promise<Grant> {
  const r = new Reader(b, 'grant');
  r.magic('PLGR');
  const objectId = r.take(16).slice();
  const bodyDigest = r.take(32).slice();
  const granter = r.take(32).slice();
  const grantedMs = r.i64();
  const purpose = r.text(0, PURPOSE_MAX, 'purpose');
  const kid = r.take(16).slice();
  const enc = r.take(65).slice();
  const wrapped = r.take(48).slice();
  const signed = r.pos;
  const sig = r.take(64);
  r.end();
  if (!(await edVerify(granter, DOMAIN, b.subarray(0, signed), sig))) throw new VerifyError("the grant's signature does not verify");
  return { objectId, bodyDigest, granter, grantedMs, purpose, keyId: kid, enc, wrapped, bytes: b };
}

/** The content key a grant wraps for `k`, for the object `h` heads. */
export async function grantKey(g: Grant, h: Header, k: Keyring): Promise<Uint8Array> {
  if (!equal(g.objectId, h.objectId) || !equal(g.bodyDigest, h.bodyDigest)) throw new VerifyError('the grant is for another clip');
  for (const secret of [k.encryptionSecret, ...k.previous]) {
    if (equal(await keyId(await p256Public(secret)), g.keyId)) return hpkeOpen(secret, g.enc, WRAP_INFO, concat(h.objectId, h.bodyDigest), g.wrapped);
  }
  throw new VerifyError('the grant is for another key than yours');
}

/** Verifies a sealed object (device signature, body digest) and opens it with a grant. */
export async function openWithGrant(sealed: Uint8Array, g: Grant, k: Keyring) {
  const header = await parseHeader(sealed);
  const body = sealed.subarray(header.headerLen);
  if (!equal(await sha256(body), header.bodyDigest)) throw new VerifyError("the clip's bytes do not match the device's signature: it was altered");
  const key = await grantKey(g, header, k);
  return { header, key, plaintext: await streamOpen(key, header.noncePrefix, header.plaintextLen, body) };
}
