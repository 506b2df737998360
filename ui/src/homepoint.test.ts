import { describe, expect, it } from 'vitest';
import { openPoint, sealPoint } from './homepoint';

// crates/crypto/src/home.rs sealed (52.2053, 0.1218) for household "h1" to the secret [7; 32].
const FROM_RUST =
  '504c4850010401bfab267ea65b22b51ecf9d208a0b62ddbf7c8f4d30cfbd476fcd7019d5600325268e6cb50150201e354056db8b7550ae01ce1530d6d02fc68da54aeeaf812bddc7c45811e548f70aa8c983272da7a7f93cb5f6c47da4527735a5ac6ca82f93';
const secret = new Uint8Array(32).fill(7);
const keys = { createdMs: 0, label: 'a', identitySeed: new Uint8Array(32), encryptionSecret: secret, previous: [] };

describe('the sealed home point', () => {
  it("opens the Rust crate's seal", async () => {
    expect(await openPoint(secret, 'h1', FROM_RUST)).toEqual([52.2053, 0.1218]);
  });

  it('opens only with its key and household, and never with an altered byte', async () => {
    const s = await sealPoint(keys, 'h1', 52.2053, 0.1218);
    expect(s.length).toBe(2 * 102);
    expect(await openPoint(secret, 'h1', s)).toEqual([52.2053, 0.1218]);
    expect(await openPoint(secret, 'h2', s)).toBeNull();
    expect(await openPoint(new Uint8Array(32).fill(9), 'h1', s)).toBeNull();
    const bad = s.slice(0, 150) + (s[150] === '0' ? '1' : '0') + s.slice(151);
    expect(await openPoint(secret, 'h1', bad)).toBeNull();
  });
});
