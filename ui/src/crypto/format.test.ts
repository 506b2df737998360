// The browser implementation against the format's test vectors (the same file the Rust
// crate and the independent Python check read), plus the checks a reader must make.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { concat, hex, unhex, utf8 } from './bytes';
import * as f from './format';

const v = JSON.parse(readFileSync(new URL('../../../crates/crypto/testdata/vectors.json', import.meta.url), 'utf8'));
const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);

describe('stream', () => {
  for (const s of v.stream) {
    it(`seals and opens ${s.plaintext_len} bytes`, async () => {
      const key = unhex(s.key);
      const prefix = unhex(s.nonce_prefix);
      const pt = pattern(s.plaintext_len);
      const sealed = await f.streamSeal(key, prefix, pt);
      expect(sealed.length).toBe(s.sealed_len);
      expect(hex(await f.sha256(sealed))).toBe(s.sealed_sha256);
      if (s.sealed) expect(hex(sealed)).toBe(s.sealed);
      s.nonces.forEach((n: string, i: number) => expect(hex(f.streamNonce(prefix, i, i === s.nonces.length - 1))).toBe(n));
      expect(await f.streamOpen(key, prefix, s.plaintext_len, sealed)).toEqual(pt);
    });
  }
  it('detects truncation after a full chunk, a flipped byte and reordering', async () => {
    const key = unhex(v.stream[3].key);
    const prefix = unhex(v.stream[3].nonce_prefix);
    const pt = pattern(2 * f.CHUNK + 1);
    const sealed = await f.streamSeal(key, prefix, pt);
    const first = sealed.subarray(0, f.CHUNK + f.TAG);
    await expect(f.streamOpen(key, prefix, f.CHUNK, first)).rejects.toThrow(f.VerifyError);
    const flipped = sealed.slice();
    flipped[100]! ^= 1;
    await expect(f.streamOpen(key, prefix, pt.length, flipped)).rejects.toThrow(/chunk 0/);
    const swapped = concat(sealed.subarray(f.CHUNK + f.TAG, 2 * (f.CHUNK + f.TAG)), first, sealed.subarray(2 * (f.CHUNK + f.TAG)));
    await expect(f.streamOpen(key, prefix, pt.length, swapped)).rejects.toThrow(f.VerifyError);
  });
});

describe('keys', () => {
  const k = v.keys;
  it('derives the public keys, key id and fingerprint', async () => {
    expect(hex(await f.edPublic(unhex(k.identity_seed)))).toBe(k.identity_public);
    expect(hex(await f.p256Public(unhex(k.encryption_secret)))).toBe(k.encryption_public);
    expect(hex(await f.keyId(unhex(k.encryption_public)))).toBe(k.key_id);
    expect(await f.fingerprint(unhex(k.identity_public))).toBe(k.fingerprint);
  });
  it('signs the public-keys bundle byte for byte (Ed25519 is deterministic)', async () => {
    const ring = { createdMs: k.created_ms, label: k.label, identitySeed: unhex(k.identity_seed), encryptionSecret: unhex(k.encryption_secret), previous: [] };
    expect(hex((await f.publicKeys(ring)).bytes)).toBe(k.public_keys);
    const parsed = await f.parsePublicKeys(unhex(k.public_keys));
    expect(parsed.label).toBe(k.label);
    const bad = unhex(k.public_keys);
    bad[40]! ^= 1;
    await expect(f.parsePublicKeys(bad)).rejects.toThrow(/self-signature/);
  });
  it('proves possession of the identity key byte for byte', async () => {
    const ring = { createdMs: k.created_ms, label: k.label, identitySeed: unhex(k.identity_seed), encryptionSecret: unhex(k.encryption_secret), previous: [] };
    for (const p of v.possession) {
      expect(hex(await f.provePossession(ring, unhex(p.challenge)))).toBe(p.proof);
    }
  });
  it('generates keyrings that round-trip', async () => {
    const ring = await f.generateKeyring('browser', 1_700_000_000_000);
    const back = f.parseKeyring(f.encodeKeyring(ring));
    expect(back).toEqual(ring);
    const pk = await f.publicKeys(ring);
    expect((await f.parsePublicKeys(pk.bytes)).identity).toEqual(pk.identity);
    expect(() => f.parseKeyring(concat(f.encodeKeyring(ring), Uint8Array.of(0)))).toThrow(/trailing/);
  });
});

describe('wrap', () => {
  const w = v.wrap;
  it('opens the HPKE vector', async () => {
    const ct = await f.hpkeOpen(unhex(w.recipient_secret), unhex(w.enc), utf8(w.info), unhex(w.aad), unhex(w.ciphertext));
    expect(hex(ct)).toBe(w.content_key);
  });
  it('seals what the vector says with the same ephemeral key', async () => {
    const pkR = await f.p256Public(unhex(w.recipient_secret));
    const { enc, ct } = await f.hpkeSeal(pkR, utf8(w.info), unhex(w.aad), unhex(w.content_key), unhex(w.ephemeral_secret));
    expect(hex(enc)).toBe(w.enc);
    expect(hex(ct)).toBe(w.ciphertext);
  });
  it('refuses another aad', async () => {
    await expect(f.hpkeOpen(unhex(w.recipient_secret), unhex(w.enc), utf8(w.info), utf8('other'), unhex(w.ciphertext))).rejects.toThrow(f.VerifyError);
  });
});

describe('object', () => {
  const o = v.object;
  const alice = { createdMs: 0, label: 'a', identitySeed: unhex(v.keys.identity_seed), encryptionSecret: unhex(v.keys.encryption_secret), previous: [] };
  it('verifies and opens for both recipients', async () => {
    const sealed = unhex(o.sealed);
    expect(hex(await f.sha256(sealed))).toBe(v.sha256_of_object);
    expect(f.headerLen(sealed)).toBe(o.header_len);
    for (const secret of [v.keys.encryption_secret, o.bob_encryption_secret]) {
      const { header, plaintext } = await f.openObject(sealed, { ...alice, encryptionSecret: unhex(secret) });
      expect(header.camera).toBe(o.camera);
      expect([header.startMs, header.endMs, header.kind]).toEqual([o.start_ms, o.end_ms, o.kind]);
      expect(hex(header.device)).toBe(o.device_public);
      expect(new TextDecoder().decode(plaintext)).toBe(o.plaintext);
    }
  });
  it('finds the key among earlier keys after a rotation', async () => {
    const rotated = { ...alice, encryptionSecret: unhex(v.grant.agency_encryption_secret), previous: [alice.encryptionSecret] };
    expect(new TextDecoder().decode((await f.openObject(unhex(o.sealed), rotated)).plaintext)).toBe(o.plaintext);
  });
  it('refuses an altered header, an altered body and a stranger', async () => {
    const sealed = unhex(o.sealed);
    const h = sealed.slice();
    h[62]! ^= 1; // a letter of the camera name
    await expect(f.openObject(h, alice)).rejects.toThrow(/signature/);
    const b = sealed.slice();
    b[b.length - 1]! ^= 1;
    await expect(f.openObject(b, alice)).rejects.toThrow(/altered/);
    const stranger = { ...alice, encryptionSecret: unhex(v.grant.ephemeral_secret) };
    await expect(f.openObject(sealed, stranger)).rejects.toThrow(/not shared/);
    await expect(f.openObject(sealed.subarray(0, 100), alice)).rejects.toThrow(/truncated/);
  });
});

describe('backup', () => {
  const b = v.backup;
  it('shows and reads the recovery code', () => {
    expect(f.showRecoveryCode(unhex(b.code_bytes))).toBe(b.code);
    expect(hex(f.parseRecoveryCode(b.code.toLowerCase().replace(/1/g, 'l')))).toBe(b.code_bytes);
    expect(() => f.parseRecoveryCode('W3GY')).toThrow(/32 characters/);
    expect(() => f.parseRecoveryCode('U'.repeat(32))).toThrow(/not a code character/);
  });
  it('seals the vector byte for byte and opens it', async () => {
    const ring = f.parseKeyring(unhex(b.keyring));
    expect(hex(await f.sealBackup(ring, unhex(b.code_bytes), unhex(b.salt), unhex(b.nonce)))).toBe(b.backup);
    expect(hex(f.encodeKeyring(await f.openBackup(unhex(b.backup), unhex(b.code_bytes))))).toBe(b.keyring);
    const wrong = unhex(b.code_bytes);
    wrong[0]! ^= 1;
    await expect(f.openBackup(unhex(b.backup), wrong)).rejects.toThrow(/wrong recovery code/);
  });
});

describe('grant', () => {
  const g = v.grant;
  const alice = { createdMs: 0, label: 'a', identitySeed: unhex(v.keys.identity_seed), encryptionSecret: unhex(v.keys.encryption_secret), previous: [] };
  it('makes the vector byte for byte, and the agency opens the clip with it', async () => {
    const { makeGrant, parseGrant, openWithGrant } = await import('./grant');
    const sealed = unhex(v.object.sealed);
    const header = await f.parseHeader(sealed);
    const agencySecret = unhex(g.agency_encryption_secret);
    const agencyPublic = await f.p256Public(agencySecret);
    const made = await makeGrant(alice, header, agencyPublic, g.purpose, g.granted_ms, unhex(g.ephemeral_secret));
    expect(hex(made)).toBe(g.grant);
    const parsed = await parseGrant(made);
    expect(parsed.purpose).toBe(g.purpose);
    const agency = { ...alice, encryptionSecret: agencySecret, previous: [] };
    const { plaintext } = await openWithGrant(sealed, parsed, agency);
    expect(new TextDecoder().decode(plaintext)).toBe(v.object.plaintext);
    await expect(openWithGrant(sealed, parsed, alice)).rejects.toThrow(/another key/);
    const bad = made.slice();
    bad[40]! ^= 1;
    await expect(parseGrant(bad)).rejects.toThrow(/signature/);
  });
});
