// The service worker: alerts while no page of the app is open. A push (Web Push, RFC 8030;
// encrypted by the server for this browser, RFC 8291, and decrypted by the browser before
// it gets here) names only what the server knows: the household, the event, the camera,
// when, and its sealed objects. The worker fetches the sealed metadata and snapshot with
// the browser's session, opens them with the keys this browser holds (IndexedDB, see
// idb.ts), and shows a notification saying what was seen, with the snapshot and two
// actions: watch live, open the clip.
import type { Schemas } from './api';
import { bytesToBase64, unhex } from './crypto/bytes';
import { openObject, parseKeyring } from './crypto/format';
import { idbGet } from './idb';
import { titleOf } from './objects';

type PushMessage = Schemas['PushMessage'];
type EventMeta = Schemas['EventMeta'];

interface PushEventLike extends Event {
  data: { json(): unknown } | null;
  waitUntil(p: Promise<unknown>): void;
}
interface NotificationEventLike extends Event {
  notification: Notification;
  action: string;
  waitUntil(p: Promise<unknown>): void;
}
interface WindowClientLike {
  url: string;
  focus(): Promise<unknown>;
  navigate(url: string): Promise<unknown>;
}
const sw = self as unknown as {
  registration: ServiceWorkerRegistration;
  clients: { matchAll(o: { type: 'window' }): Promise<WindowClientLike[]>; openWindow(url: string): Promise<unknown>; claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: string, f: (e: never) => void): void;
};

interface ExtendableEventLike extends Event {
  waitUntil(p: Promise<unknown>): void;
}

sw.addEventListener('install', () => void sw.skipWaiting());
sw.addEventListener('activate', (e: ExtendableEventLike) => e.waitUntil(sw.clients.claim()));

async function opened(id: string, keys: ReturnType<typeof parseKeyring>): Promise<Uint8Array> {
  const r = await fetch(`/api/objects/${id}`, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`object ${id}: ${r.status}`);
  return (await openObject(new Uint8Array(await r.arrayBuffer()), keys)).plaintext;
}

/** The notification for `m`: what was seen when the keys and the session are here; the
 * camera and the time only, otherwise. */
async function describe(m: PushMessage, camera: string): Promise<{ title: string; image?: string; doorbell: boolean }> {
  const account = await idbGet('households', m.household_id);
  const hex = account === undefined ? undefined : await idbGet('keys', account);
  if (hex === undefined) return { title: `Something at ${camera}`, doorbell: false };
  const keys = parseKeyring(unhex(hex));
  const meta = JSON.parse(new TextDecoder().decode(await opened(m.meta_object, keys))) as Partial<EventMeta>;
  const what = titleOf({
    camera: String(meta.camera ?? m.camera),
    kind: String(meta.kind ?? 'motion'),
    label: meta.label ? String(meta.label) : null,
    score: null,
    zones: [],
    start_ms: m.start_ms,
    end_ms: m.start_ms,
  });
  let image: string | undefined;
  if (m.snapshot_object) {
    try {
      image = `data:image/jpeg;base64,${bytesToBase64(await opened(m.snapshot_object, keys))}`;
    } catch {
      // Without the picture, the words still go.
    }
  }
  return { title: `${what} at ${camera}`, image, doorbell: meta.kind === 'doorbell' };
}

sw.addEventListener('push', (e: PushEventLike) => {
  const m = e.data?.json() as PushMessage | undefined;
  if (!m || typeof m.camera !== 'string') return;
  e.waitUntil(
    (async () => {
      // The name the owner gave the camera, as the app last saw it (names.ts).
      const names = JSON.parse((await idbGet('names', m.household_id).catch(() => undefined)) ?? '{}') as Record<string, string>;
      const camera = names[m.camera] ?? m.camera;
      let d: Awaited<ReturnType<typeof describe>>;
      try {
        d = await describe(m, camera);
      } catch (err) {
        console.warn(`push: the event could not be opened (${(err as Error).message}); showing the camera and time only`);
        d = { title: `Something at ${camera}`, doorbell: false };
      }
      const options = {
        body: `${new Date(m.start_ms).toLocaleTimeString()}${m.in_progress ? ' · going on now' : ''}`,
        tag: m.event_id,
        image: d.image,
        requireInteraction: d.doorbell,
        data: { household: m.household_id, camera: m.camera },
        actions: [
          { action: 'live', title: 'Watch live' },
          { action: 'clip', title: 'Open the clip' },
        ],
      };
      await sw.registration.showNotification(d.title, options as NotificationOptions);
    })(),
  );
});

sw.addEventListener('notificationclick', (e: NotificationEventLike) => {
  e.notification.close();
  const { household, camera } = e.notification.data as { household: string; camera: string };
  const cam = encodeURIComponent(camera);
  const url = e.action === 'live' ? `/#/?h=${household}&live=${cam}` : `/#/timeline?h=${household}&camera=${cam}`;
  e.waitUntil(
    (async () => {
      const open = await sw.clients.matchAll({ type: 'window' });
      const c = open[0];
      if (c) {
        await c.navigate(url);
        await c.focus();
      } else {
        await sw.clients.openWindow(url);
      }
    })(),
  );
});
