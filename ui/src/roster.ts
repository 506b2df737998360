// The household's roster (design/crypto-format.md, "Trust"): the owner's device signs the
// list of members' public keys that agents seal new footage for, and the server relays it
// to the agents, which check the owner's signature. Kept in step with the member list by
// `syncRoster`, which the owner's app runs when it starts and when membership changes.
import { type Member, ApiError, api } from './api';
import { FormatError, Reader, Writer, concat, equal, hex, unhex, utf8 } from './crypto/bytes';
import { type Keyring, edPublic, edSign, edVerify, parsePublicKeys, publicKeys } from './crypto/format';

export const FOREVER = Number.MAX_SAFE_INTEGER;
const ROLES: Record<string, number> = { owner: 1, full: 2, standard: 3, limited: 4, guest: 5 };

export interface RosterMember {
  role: number;
  fromMs: number;
  untilMs: number;
  keys: Uint8Array;
}

export async function encodeRoster(household: string, serial: number, issuedMs: number, owner: Keyring, members: RosterMember[]) {
  if (members.length < 1 || members.length > 32) throw new FormatError('roster: 1 to 32 members');
  const w = new Writer()
    .bytes(utf8('PLRS'))
    .u8(1)
    .bytes(unhex(household))
    .i64(serial)
    .i64(issuedMs)
    .bytes(await edPublic(owner.identitySeed))
    .u8(members.length);
  for (const m of members) w.u8(m.role).i64(m.fromMs).i64(m.untilMs).u16(m.keys.length).bytes(m.keys);
  const body = w.done();
  return concat(body, await edSign(owner.identitySeed, 'porchlight/roster/v1', body));
}

export async function parseRoster(b: Uint8Array): Promise<{ household: string; serial: number; signer: Uint8Array; members: RosterMember[] }> {
  const r = new Reader(b, 'roster');
  r.magic('PLRS');
  const household = hex(r.take(16));
  const serial = r.u64();
  r.i64();
  const signer = r.take(32).slice();
  const n = r.u8();
  const members: RosterMember[] = [];
  for (let i = 0; i < n; i++) {
    const role = r.u8();
    const fromMs = r.i64();
    const untilMs = r.i64();
    members.push({ role, fromMs, untilMs, keys: r.take(r.u16()).slice() });
  }
  const signed = r.pos;
  const sig = r.take(64);
  r.end();
  if (!(await edVerify(signer, 'porchlight/roster/v1', b.subarray(0, signed), sig))) throw new FormatError('roster: bad signature');
  return { household, serial, signer, members };
}

/** The roster the member list calls for: the owner, then each member whose device made keys. */
export async function wantedMembers(owner: Keyring, members: Member[]): Promise<RosterMember[]> {
  const out: RosterMember[] = [{ role: 1, fromMs: 0, untilMs: FOREVER, keys: (await publicKeys(owner)).bytes }];
  for (const m of members) {
    if (m.role === 'owner' || !m.public_keys || !ROLES[m.role]) continue;
    const keys = unhex(m.public_keys);
    try {
      await parsePublicKeys(keys);
    } catch {
      continue; // a bundle that does not verify is never signed into the roster
    }
    const fromMs = m.window_from_ms ?? 0;
    const untilMs = m.window_until_ms ?? FOREVER;
    if (untilMs <= fromMs || untilMs <= Date.now()) continue;
    out.push({ role: ROLES[m.role]!, fromMs, untilMs, keys });
  }
  return out.slice(0, 32);
}

const same = (a: RosterMember[], b: RosterMember[]) =>
  a.length === b.length &&
  a.every((x, i) => x.role === b[i]!.role && x.fromMs === b[i]!.fromMs && x.untilMs === b[i]!.untilMs && equal(x.keys, b[i]!.keys));

async function sync(household: string, owner: Keyring): Promise<{ serial: number; changed: boolean } | null> {
  const [members, current] = await Promise.all([
    api.members(household),
    api.roster(household).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }),
  ]);
  const want = await wantedMembers(owner, members);
  if (current) {
    const cur = await parseRoster(unhex(current.roster)).catch(() => null);
    if (cur && same(cur.members, want) && equal(cur.signer, await edPublic(owner.identitySeed))) {
      return { serial: current.serial, changed: false };
    }
  }
  const serial = (current?.serial ?? 0) + 1;
  await api.putRoster(household, hex(await encodeRoster(household, serial, Date.now(), owner, want)));
  return { serial, changed: true };
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Signs and uploads a new roster when the member list changed. One at a time in this
 * page; a conflict (another of the owner's devices signed the same serial first) is
 * retried once against the newer roster.
 */
export function syncRoster(household: string, owner: Keyring): Promise<{ serial: number; changed: boolean } | null> {
  const run = queue.then(async () => {
    try {
      return await sync(household, owner);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) return sync(household, owner);
      throw e;
    }
  });
  queue = run.catch(() => {});
  return run;
}
