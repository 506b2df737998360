// The transparency log in the browser (crates/crypto/src/tlog.rs, design/transparency-log.md):
// RFC 9162 leaf and node hashes, a tree's head from its leaves, inclusion proofs, and the
// server's signed tree heads. The app uses an agency's key only after proving that the
// log entry which verified the agency, with that key, is in the signed log.
import { Reader, concat, equal, hex, unhex, utf8 } from './crypto/bytes';
import { VerifyError, edVerify, sha256 } from './crypto/format';

export const leafHash = (entry: Uint8Array) => sha256(concat(Uint8Array.of(0), entry));
export const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(concat(Uint8Array.of(1), l, r));

export interface TreeHead {
  size: number;
  root: Uint8Array;
  timestampMs: number;
  logKey: Uint8Array;
  signed: Uint8Array;
}

/** Parses a `PLTH` head and checks its signature under the key it names (and, if given, that the key is `logKey`). */
export async function parseHead(signedHex: string, logKey?: Uint8Array): Promise<TreeHead> {
  const b = unhex(signedHex);
  const r = new Reader(b, 'tree head');
  r.magic('PLTH');
  const size = r.u64();
  const root = r.take(32).slice();
  const timestampMs = r.i64();
  const key = r.take(32).slice();
  const at = r.pos;
  const sig = r.take(64);
  r.end();
  if (logKey && !equal(key, logKey)) throw new VerifyError('the tree head is signed by another key than the log');
  if (!(await edVerify(key, 'porchlight/tree-head/v1', b.subarray(0, at), sig))) throw new VerifyError("the tree head's signature does not verify");
  return { size, root, timestampMs, logKey: key, signed: b };
}

/** RFC 9162's MTH of leaf hashes, with the right edge kept as it grows (like `tlog::Frontier`). */
export async function rootOf(leaves: Uint8Array[]): Promise<Uint8Array> {
  const edge: { level: number; h: Uint8Array }[] = [];
  for (const leaf of leaves) {
    let h = leaf;
    let level = 0;
    while (edge.length && edge[edge.length - 1]!.level === level) {
      h = await nodeHash(edge.pop()!.h, h);
      level++;
    }
    edge.push({ level, h });
  }
  if (!edge.length) return sha256(new Uint8Array());
  let h = edge[edge.length - 1]!.h;
  for (let i = edge.length - 2; i >= 0; i--) h = await nodeHash(edge[i]!.h, h);
  return h;
}

/** RFC 9162's check that `leaf` is leaf `index` of the tree of `size` with head `root`. */
export async function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): Promise<boolean> {
  if (index >= size || proof.length > 65) return false;
  let f = index;
  let s = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (s === 0) return false;
    if (f % 2 === 1 || f === s) {
      r = await nodeHash(p, r);
      while (f % 2 === 0 && f !== 0) {
        f = Math.floor(f / 2);
        s = Math.floor(s / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    f = Math.floor(f / 2);
    s = Math.floor(s / 2);
  }
  return s === 0 && equal(r, root);
}

interface EntryJson {
  index: number;
  kind: string;
  created_ms: number;
  body: string;
}

async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: the server answered ${r.status}`);
  return (await r.json()) as T;
}

/** The latest signed head, checked. */
export async function latestHead(): Promise<TreeHead> {
  const h = await getJson<{ signed: string }>('/api/log/head');
  return parseHead(h.signed);
}

/** Entry `index`'s text, proved to be in `head`'s tree. */
export async function provedEntry(index: number, head: TreeHead): Promise<string> {
  const e = await getJson<{ entries: EntryJson[] }>(`/api/log/entries?start=${index}&end=${index + 1}`);
  const body = e.entries[0]?.body;
  if (body === undefined) throw new VerifyError(`log entry ${index} is missing`);
  const p = await getJson<{ hashes: string[] }>(`/api/log/proof/inclusion?index=${index}&size=${head.size}`);
  const ok = await verifyInclusion(await leafHash(utf8(body)), index, head.size, p.hashes.map(unhex), head.root);
  if (!ok) throw new VerifyError(`log entry ${index} is not in the signed log`);
  return body;
}

/**
 * Checks that an agency's keys are the ones the log recorded when the operator verified
 * it: the only keys of an agency this app ever wraps a clip for.
 */
export async function checkAgencyKeys(logIndex: number, agencyId: string, publicKeysHex: string): Promise<void> {
  const head = await latestHead();
  const body = JSON.parse(await provedEntry(logIndex, head)) as { kind: string; agency_id: string; public_keys: string };
  if (body.kind !== 'agency_verified' || body.agency_id !== agencyId || body.public_keys !== publicKeysHex) {
    throw new VerifyError("the agency's key is not the one its verification in the transparency log recorded");
  }
}

/** Every entry, in pages of 1,000, with the check that together they hash to the signed head. */
export async function allEntries(head: TreeHead): Promise<EntryJson[]> {
  const out: EntryJson[] = [];
  for (let at = 0; at < head.size; at += 1000) {
    const page = await getJson<{ entries: EntryJson[] }>(`/api/log/entries?start=${at}&end=${Math.min(head.size, at + 1000)}`);
    out.push(...page.entries);
  }
  const root = await rootOf(await Promise.all(out.map((e) => leafHash(utf8(e.body)))));
  if (out.length !== head.size || !equal(root, head.root)) throw new VerifyError('the log entries do not hash to the signed tree head');
  return out;
}

export { hex };
