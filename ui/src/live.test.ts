import { describe, expect, it } from 'vitest';
import { Framer, RECONNECTS_PER_MINUTE, mayReconnect } from './live';

describe('live framing', () => {
  it('splits length-prefixed messages across arbitrary chunk boundaries', () => {
    const msg = (n: number, fill: number) => {
      const b = new Uint8Array(4 + n).fill(fill);
      new DataView(b.buffer).setUint32(0, n);
      return b;
    };
    const all = new Uint8Array([...msg(3, 1), ...msg(0, 2), ...msg(70_000, 3)]);
    const f = new Framer();
    const got: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += 997) got.push(...f.push(all.subarray(i, i + 997)));
    expect(got.map((m) => m.length)).toEqual([3, 0, 70_000]);
    expect(got[2]!.every((x) => x === 3)).toBe(true);
  });
  it('refuses an absurd length instead of buffering forever', () => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, 0xffffffff);
    expect(() => new Framer().push(b)).toThrow(/too long/);
  });
});

describe('live reconnects', () => {
  it('reconnects a few times a minute, then lets the end show', () => {
    const history: number[] = [];
    const t0 = 1_700_000_000_000;
    for (let k = 0; k < RECONNECTS_PER_MINUTE; k++) expect(mayReconnect(history, t0 + k * 1000)).toBe(true);
    expect(mayReconnect(history, t0 + 10_000)).toBe(false);
    expect(history).toHaveLength(RECONNECTS_PER_MINUTE);
    // A minute after the first, one more is allowed.
    expect(mayReconnect(history, t0 + 60_500)).toBe(true);
    expect(mayReconnect(history, t0 + 60_600)).toBe(false);
  });
});
