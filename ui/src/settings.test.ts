import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hex, unhex, utf8 } from './crypto/bytes';
import { generateKeyring } from './crypto/format';
import { ALL_ON, checkSettings, decodeBody, encodeBody, modeEffect, parseSettings, ruleFor, sealSettings } from './settings';

const v = JSON.parse(readFileSync(new URL('../../crates/crypto/testdata/vectors.json', import.meta.url), 'utf8'));
const s = v.settings;
const alice = { createdMs: 0, label: 'a', identitySeed: unhex(v.keys.identity_seed), encryptionSecret: unhex(v.keys.encryption_secret), previous: [] };

describe('settings format', () => {
  it('seals the vector byte for byte', async () => {
    const got = await sealSettings(alice, s.household_id, s.serial, s.issued_ms, s.recipients.map(unhex), utf8(s.body), {
      key: unhex(s.content_key),
      nonce: unhex(s.nonce),
      ephemerals: s.ephemeral_secrets.map(unhex),
    });
    expect(hex(got)).toBe(s.settings);
  });
  it('opens the vector for each recipient and refuses others', async () => {
    const p = await parseSettings(unhex(s.settings));
    expect([p.household, p.serial, p.issuedMs]).toEqual([s.household_id, s.serial, s.issued_ms]);
    for (const secret of [v.keys.encryption_secret, s.bob_encryption_secret]) {
      expect(new TextDecoder().decode(await p.open({ ...alice, encryptionSecret: unhex(secret) }))).toBe(s.body);
    }
    await expect(p.open({ ...alice, encryptionSecret: unhex(v.grant.agency_encryption_secret) })).rejects.toThrow(/not sealed for your keys/);
  });
  it('refuses any changed byte', async () => {
    const b = unhex(s.settings);
    for (const i of [0, 5, 30, 60, 130, b.length - 70, b.length - 1]) {
      const c = b.slice();
      c[i] = (c[i] ?? 0) ^ 1;
      await expect(parseSettings(c)).rejects.toThrow();
    }
  });
  it('round-trips with fresh randomness', async () => {
    const k = await generateKeyring('owner', 1);
    const body = encodeBody({ mode: 'away', cameras: { front: { label: 'Front', zones: [{ name: 'path', points: [[0, 0], [1, 0], [0.5, 1]] }] } } });
    const b = await sealSettings(k, '0c'.repeat(16), 2, 3, [unhex(s.recipients[0])], body);
    const p = await parseSettings(b);
    expect(decodeBody(await p.open(alice)).cameras.front?.zones?.[0]?.name).toBe('path');
  });
});

describe('settings body', () => {
  it('names the bad field', () => {
    expect(() => checkSettings({ mode: 'party', cameras: {} })).toThrow(/settings.mode/);
    expect(() => checkSettings({ mode: 'home', cameras: { f: { sensitivity: 0 } } })).toThrow(/cameras.f.sensitivity/);
    expect(() => checkSettings({ mode: 'home', cameras: { f: { zones: [{ name: 'a', points: [[0, 0], [1, 1]] }] } } })).toThrow(/zones\[0\]: expected 3/);
    expect(() => checkSettings({ mode: 'home', cameras: { f: { masks: [[[0, 0], [2, 0], [0, 1]]] } } })).toThrow(/masks\[0\]: point 1/);
    expect(() => checkSettings({ mode: 'home', cameras: { f: { label: ' ' } } })).toThrow(/label/);
    expect(() => decodeBody(utf8('{'))).toThrow(/not JSON/);
  });
  it('says what a camera does in the current mode', () => {
    const st = checkSettings({ mode: 'home', cameras: { f: { modes: { ...ALL_ON, home: { record: false, notify: false } } } } });
    expect(ruleFor(st, 'f')).toEqual({ record: false, notify: false });
    expect(ruleFor(st, 'g')).toEqual({ record: true, notify: true });
    // The defaults, as the agent decides them (crates/agent/src/remote.rs).
    const at = (mode: 'disarmed' | 'home' | 'away', cams = {}) => checkSettings({ mode, cameras: cams });
    expect(ruleFor(at('home'), 'g', { doorbell: false, indoor: true })).toEqual({ record: false, notify: false });
    expect(ruleFor(at('home', { g: { placement: 'outdoor' } }), 'g', { doorbell: false, indoor: true })).toEqual({ record: true, notify: true });
    expect(ruleFor(at('away'), 'g', { doorbell: false, indoor: true })).toEqual({ record: true, notify: true });
    expect(ruleFor(at('disarmed'), 'g')).toEqual({ record: false, notify: false });
    expect(modeEffect(at('disarmed'), 'door', { doorbell: true, indoor: false }, 'Disarmed')).toBe('Only doorbell presses in Disarmed');
    expect(modeEffect(at('home', { hall: { placement: 'indoor' } }), 'hall', null, 'Home')).toBe('Not recording in Home');
    expect(() => checkSettings({ mode: 'home', cameras: { g: { placement: 'attic' } } })).toThrow(/placement/);
  });
});
