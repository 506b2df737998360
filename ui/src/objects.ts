// Fetching and opening sealed objects: small ones (snapshots, event metadata) whole and
// cached for the page's life; clips streamed chunk by chunk (see openClipStream).
import { ApiError, type Schemas } from './api';
import { equal } from './crypto/bytes';
import {
  type Header,
  type Keyring,
  CHUNK,
  FormatError,
  HEADER_MAX,
  PREFIX_BYTES,
  StreamOpener,
  TAG,
  VerifyError,
  contentKey,
  headerLen,
  openObject,
  parseHeader,
  sealedLen,
} from './crypto/format';
import { Sha256 } from './crypto/sha256';

export { FormatError, VerifyError };

async function fetchObject(id: string, signal?: AbortSignal, from = 0): Promise<Response> {
  let r: Response;
  try {
    const headers: HeadersInit = from > 0 ? { range: `bytes=${from}-` } : {};
    r = await fetch(`/api/objects/${id}`, { credentials: 'same-origin', signal, headers });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  if (!r.ok) {
    let message = `The server answered ${r.status}.`;
    try {
      message = ((await r.json()) as { message: string }).message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, 'http', message);
  }
  return r;
}

const small = new Map<string, Promise<Uint8Array>>();

/** A whole small object, verified and decrypted (cached; a failure is not cached). */
export function openSmall(id: string, keys: Keyring): Promise<Uint8Array> {
  let p = small.get(id);
  if (!p) {
    p = (async () => {
      const r = await fetchObject(id);
      return (await openObject(new Uint8Array(await r.arrayBuffer()), keys)).plaintext;
    })();
    small.set(id, p);
    p.catch(() => small.delete(id));
  }
  return p;
}

/** The sealed event metadata as the agent writes it (`wire::EventMeta`). */
type SealedEventMeta = Schemas['EventMeta'];

/** What the timeline shows of it: every field present, an empty label or score absent. */
export type EventMeta = Pick<SealedEventMeta, 'camera' | 'kind' | 'zones' | 'start_ms' | 'end_ms'> & {
  label: string | null;
  score: number | null;
};

/** Opens an event's metadata. It was sealed by a paired agent, perhaps an older one, so a
 * field it lacks gets a default rather than breaking the timeline. */
export async function openMeta(id: string, keys: Keyring): Promise<EventMeta> {
  const m = JSON.parse(new TextDecoder().decode(await openSmall(id, keys))) as Partial<SealedEventMeta>;
  return {
    camera: String(m.camera ?? ''),
    kind: String(m.kind ?? 'motion'),
    label: m.label ? String(m.label) : null,
    score: typeof m.score === 'number' ? m.score : null,
    zones: Array.isArray(m.zones) ? m.zones.map(String) : [],
    start_ms: Number(m.start_ms ?? 0),
    end_ms: Number(m.end_ms ?? 0),
  };
}

/** What an event is, in a few words: "Person", "Doorbell press", "Motion". */
export function titleOf(m: EventMeta): string {
  const t = m.kind === 'motion' || m.label === null ? (m.label ?? m.kind) : `${m.kind} ${m.label}`;
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const urls = new Map<string, Promise<string>>();

/** A blob: URL of a decrypted JPEG (snapshot or thumbnail), cached. */
export function imageUrl(id: string, keys: Keyring): Promise<string> {
  let p = urls.get(id);
  if (!p) {
    p = openSmall(id, keys).then((b) => URL.createObjectURL(new Blob([b as BlobPart], { type: 'image/jpeg' })));
    urls.set(id, p);
    p.catch(() => urls.delete(id));
  }
  return p;
}

export interface ClipProgress {
  header: Header;
  received: number;
  total: number;
}

/**
 * Streams a clip: checks the header's device signature before anything else, unwraps the
 * content key, then decrypts each 64 KiB chunk as it arrives (each chunk's AES-GCM tag
 * authenticates it) and hands the plaintext to `sink`, while hashing the sealed body; at
 * the end the hash must equal the digest the device signed, else it throws VerifyError.
 * A dropped connection is retried (up to `retries` times) from the first byte not yet
 * received (an HTTP range; a server that answers with the whole object is skipped through).
 */
export async function openClipStream(
  id: string,
  keys: Keyring,
  sink: (plain: Uint8Array, p: ClipProgress) => void | Promise<void>,
  signal?: AbortSignal,
  retries = 5,
): Promise<Header> {
  let header: Header | null = null;
  let opener: StreamOpener | null = null;
  const hash = new Sha256();
  let consumed = 0; // bytes of the object fully processed
  let nextChunk = 0;
  let pending = new Uint8Array(0);
  for (let attempt = 0; ; attempt++) {
    try {
      const have = consumed + pending.length;
      const r = await fetchObject(id, signal, have);
      const reader = r.body!.getReader();
      let skip = have;
      if (r.status === 206) {
        if (!(r.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`)) throw new ApiError(0, 'network', 'the server resumed the clip at the wrong place');
        skip = 0;
      }
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let v = value;
        if (skip > 0) {
          const n = Math.min(skip, v.length);
          v = v.subarray(n);
          skip -= n;
          if (v.length === 0) continue;
        }
        const joined = new Uint8Array(pending.length + v.length);
        joined.set(pending);
        joined.set(v, pending.length);
        pending = joined;
        if (!header) {
          if (pending.length < PREFIX_BYTES) continue;
          const hl = headerLen(pending);
          if (hl > HEADER_MAX || pending.length < hl) continue;
          header = await parseHeader(pending);
          opener = new StreamOpener(await contentKey(header, keys), header.noncePrefix, header.plaintextLen);
          pending = pending.slice(hl);
          consumed = hl;
        }
        while (opener && nextChunk < opener.chunks) {
          const [a, b] = opener.range(nextChunk);
          if (pending.length < b - a) break;
          const sealed = pending.subarray(0, b - a);
          hash.update(sealed);
          const plain = await opener.open(nextChunk, sealed);
          nextChunk++;
          consumed += b - a;
          pending = pending.slice(b - a);
          await sink(plain, { header: header!, received: consumed, total: header!.headerLen + sealedLen(header!.plaintextLen) });
        }
      }
      // A response that ends early is the transport's failure (a proxy or a dropped
      // connection), not the clip's: fetch the rest again.
      if (!opener || nextChunk < opener.chunks) throw new ApiError(0, 'network', 'the connection ended before the clip did');
      break;
    } catch (e) {
      if (e instanceof VerifyError || e instanceof FormatError || (e as Error).name === 'AbortError') throw e;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) throw e;
      if (attempt >= retries) throw e;
      await new Promise((res) => setTimeout(res, Math.min(4000, 250 * 2 ** attempt)));
    }
  }
  if (!header || !opener) throw new VerifyError('the clip ended before its header');
  if (nextChunk !== opener.chunks || pending.length !== 0) throw new VerifyError('the clip is truncated or has extra bytes');
  if (!equal(hash.digest(), header.bodyDigest)) {
    throw new VerifyError("the clip's bytes do not match the device's signature: it was altered");
  }
  return header;
}

export { CHUNK, TAG };

/** A whole sealed object as the server holds it (nothing checked yet). */
export async function fetchSealed(id: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetchObject(id)).arrayBuffer());
}
