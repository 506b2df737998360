import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hex } from './bytes';
import { Sha256 } from './sha256';

describe('incremental SHA-256', () => {
  it('matches a reference for every length around the block edges and any split', () => {
    for (let n = 0; n < 300; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
      const want = createHash('sha256').update(data).digest('hex');
      const cut = Math.floor(n / 3);
      const got = new Sha256().update(data.subarray(0, cut)).update(data.subarray(cut, 2 * cut)).update(data.subarray(2 * cut)).digest();
      expect(hex(got)).toBe(want);
    }
  });
  it('hashes a megabyte fed in odd pieces', () => {
    const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 31) & 0xff);
    const s = new Sha256();
    for (let i = 0; i < data.length; i += 65552) s.update(data.subarray(i, i + 65552));
    expect(hex(s.digest())).toBe(createHash('sha256').update(data).digest('hex'));
  });
});
