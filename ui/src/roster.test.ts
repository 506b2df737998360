import { describe, expect, it } from 'vitest';
import { generateKeyring, publicKeys } from './crypto/format';
import { FOREVER, encodeRoster, parseRoster, wantedMembers } from './roster';

describe('roster', () => {
  it('round-trips and refuses a changed byte', async () => {
    const owner = await generateKeyring('owner', 1);
    const member = await generateKeyring('member', 2);
    const list = [
      { role: 1, fromMs: 0, untilMs: FOREVER, keys: (await publicKeys(owner)).bytes },
      { role: 4, fromMs: 1000, untilMs: 2000, keys: (await publicKeys(member)).bytes },
    ];
    const b = await encodeRoster('ab'.repeat(16), 7, 99, owner, list);
    const r = await parseRoster(b);
    expect(r.serial).toBe(7);
    expect(r.household).toBe('ab'.repeat(16));
    expect(r.members).toEqual(list);
    const bad = b.slice();
    bad[30]! ^= 1;
    await expect(parseRoster(bad)).rejects.toThrow(/signature/);
  });

  it('signs in members with verified keys and a live window only', async () => {
    const owner = await generateKeyring('owner', 1);
    const m = await generateKeyring('m', 2);
    const good = Buffer.from((await publicKeys(m)).bytes).toString('hex');
    const forged = good.slice(0, -2) + (good.endsWith('00') ? '01' : '00');
    const base = { email: 'x', window_from_ms: null, window_until_ms: null };
    const want = await wantedMembers(owner, [
      { ...base, account_id: 'o', role: 'owner', public_keys: null },
      { ...base, account_id: 'a', role: 'standard', public_keys: good },
      { ...base, account_id: 'b', role: 'full', public_keys: null },
      { ...base, account_id: 'c', role: 'limited', public_keys: forged },
      { ...base, account_id: 'd', role: 'guest', public_keys: good, window_from_ms: 1, window_until_ms: 2 },
    ]);
    expect(want.map((w) => w.role)).toEqual([1, 3]);
  });
});
