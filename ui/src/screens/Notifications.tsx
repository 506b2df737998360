import { useEffect, useRef, useState } from 'react';
import { type EventJson, api } from '../api';
import type { Keyring } from '../crypto/format';
import { openMeta, titleOf } from '../objects';
import { Snapshot } from './common';

interface Toast {
  e: EventJson;
  label: string | null;
}

/** Whether this browser can show system notifications, and may. */
function notificationPermission(): NotificationPermission | 'unsupported' {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

const ASKED = 'porchlight.alerts-asked';

/** The service worker that shows alerts while no page is open (sw.ts). */
function registerWorker(): Promise<ServiceWorkerRegistration> | null {
  if (!('serviceWorker' in navigator)) return null;
  return navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' });
}

/** Subscribes this browser to the household's alerts through its push service (Web Push)
 * and tells the server where to send them; throws when the browser has no push service. */
async function subscribePush(householdId: string): Promise<void> {
  const reg = await registerWorker();
  if (!reg || !('pushManager' in reg)) throw new Error('this browser has no Web Push');
  await navigator.serviceWorker.ready;
  const { vapid_public_key } = await api.pushKey();
  const sub =
    (await reg.pushManager.getSubscription()) ??
    (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: vapid_public_key }));
  const j = sub.toJSON();
  await api.pushSubscribe(householdId, { endpoint: sub.endpoint, p256dh: j.keys?.p256dh ?? '', auth: j.keys?.auth ?? '', cameras: [] });
}

/** A two-note door chime through Web Audio (no file to fetch). */
function chime() {
  try {
    const ctx = new AudioContext();
    const now = ctx.currentTime;
    [
      [659.25, 0],
      [523.25, 0.35],
    ].forEach(([hz, at]) => {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = hz!;
      g.gain.setValueAtTime(0.0001, now + at!);
      g.gain.exponentialRampToValueAtTime(0.3, now + at! + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, now + at! + 0.6);
      o.connect(g).connect(ctx.destination);
      o.start(now + at!);
      o.stop(now + at! + 0.65);
    });
    setTimeout(() => void ctx.close(), 1500);
  } catch {
    // No audio output (or not allowed yet): the notification and the toast remain.
  }
}

/**
 * The household's live events (server-sent events): each new event is announced once
 * with its snapshot for 8 seconds and handed to the timeline (a `porchlight:event` window
 * event); its updates (an event in progress that finished) go to the timeline only. A
 * doorbell press also rings a chime and, where the member allowed it, shows a system
 * notification. The browser's EventSource reconnects by itself after a drop.
 */
export function Notifications(p: { householdId: string; keys: Keyring }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [permission, setPermission] = useState(notificationPermission);
  const [asked, setAsked] = useState(() => localStorage.getItem(ASKED) !== null);
  const announced = useRef(new Set<string>());
  const [pushProblem, setPushProblem] = useState<string | null>(null);
  // The worker always; the subscription once the member allowed notifications (again on
  // each visit: the server may have dropped an endpoint the push service retired).
  // The outcome is on the page (`data-push` on <html>: `on` or `unavailable`), for whoever
  // needs to know that no subscription attempt is still under way.
  useEffect(() => {
    registerWorker()?.catch(() => {});
    if (notificationPermission() !== 'granted') return;
    subscribePush(p.householdId).then(
      () => (document.documentElement.dataset.push = 'on'),
      () => (document.documentElement.dataset.push = 'unavailable'),
    );
  }, [p.householdId]);
  useEffect(() => {
    const src = new EventSource(`/api/households/${p.householdId}/events/live`);
    src.addEventListener('event', (m) => {
      const e = JSON.parse((m as MessageEvent<string>).data) as EventJson;
      dispatchEvent(new CustomEvent('porchlight:event', { detail: e }));
      if (announced.current.has(e.id)) return;
      announced.current.add(e.id);
      const toast: Toast = { e, label: null };
      setToasts((t) => [toast, ...t].slice(0, 3));
      openMeta(e.meta_object, p.keys).then(
        (meta) => {
          const title = titleOf(meta);
          setToasts((t) => t.map((x) => (x.e.id === e.id ? { ...x, label: title } : x)));
          if (meta.kind !== 'doorbell') return;
          chime();
          if (notificationPermission() === 'granted') {
            const n = new Notification(`Doorbell: ${e.camera}`, {
              body: `Someone rang at ${new Date(e.start_ms).toLocaleTimeString()}`,
              tag: e.id,
            });
            n.onclick = () => {
              window.focus();
              location.hash = `#/timeline?camera=${encodeURIComponent(e.camera)}`;
            };
          }
        },
        () => {},
      );
      setTimeout(() => setToasts((t) => t.filter((x) => x.e.id !== e.id)), 8000);
    });
    return () => src.close();
  }, [p.householdId, p.keys]);
  const ask = async () => {
    localStorage.setItem(ASKED, '1');
    setAsked(true);
    const got = await Notification.requestPermission();
    setPermission(got);
    if (got !== 'granted') return;
    try {
      await subscribePush(p.householdId);
    } catch (e) {
      setPushProblem(`Alerts show while Porchlight is open; with it closed they need the browser's push service, which is not available here (${(e as Error).message}).`);
    }
  };
  const dismiss = () => {
    localStorage.setItem(ASKED, '1');
    setAsked(true);
  };
  return (
    <>
      {permission === 'default' && !asked && (
        <div className="alert-offer" role="region" aria-label="Alerts on this device" data-testid="alert-offer">
          <span>Show doorbell presses as notifications on this device, even in another tab?</span>
          <button onClick={() => void ask()}>Turn on</button>
          <button className="link" onClick={dismiss}>
            Not now
          </button>
        </div>
      )}
      {pushProblem && (
        <p className="muted" role="status">
          {pushProblem}
        </p>
      )}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <a key={t.e.id} className="toast" href={`#/timeline?camera=${encodeURIComponent(t.e.camera)}`} data-testid="notification">
            <Snapshot id={t.e.snapshot_object ?? null} keys={p.keys} alt={`Snapshot of the new event on ${t.e.camera}`} />
            <span>
              <strong>{t.label ?? 'New event'}</strong> on {t.e.camera}
              {t.e.in_progress && <span className="muted"> · now</span>}
              <br />
              {new Date(t.e.start_ms).toLocaleTimeString()}
            </span>
          </a>
        ))}
      </div>
    </>
  );
}
