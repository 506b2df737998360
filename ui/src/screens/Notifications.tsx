import { useEffect, useRef, useState } from 'react';
import { type EventJson, type PushSubscriptionJson, api } from '../api';
import type { Keyring } from '../crypto/format';
import { useCameraNames } from '../names';
import { openMeta, titleOf } from '../objects';
import { Feedback, Snapshot, useAction, useAsync } from './common';

interface Toast {
  e: EventJson;
  label: string | null;
}

/** Whether this browser can show system notifications, and may. */
function notificationPermission(): NotificationPermission | 'unsupported' {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

const ASKED = 'porchlight.alerts-asked';
/** Set while the member turned alerts off on this device for a household (so a visit does not subscribe again). */
const offKey = (hid: string) => `porchlight.alerts-off.${hid}`;

/** The service worker that shows alerts while no page is open (sw.ts). */
function registerWorker(): Promise<ServiceWorkerRegistration> | null {
  if (!('serviceWorker' in navigator)) return null;
  return navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' });
}

/** Subscribes this browser to the household's alerts through its push service (Web Push)
 * and tells the server where to send them; throws when the browser has no push service. */
async function subscribePush(householdId: string, cameras?: string[]): Promise<PushSubscriptionJson> {
  const reg = await registerWorker();
  if (!reg || !('pushManager' in reg)) throw new Error('this browser has no Web Push');
  await navigator.serviceWorker.ready;
  const { vapid_public_key } = await api.pushKey();
  const sub =
    (await reg.pushManager.getSubscription()) ??
    (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: vapid_public_key }));
  const j = sub.toJSON();
  // Subscribing again keeps the cameras this browser chose, unless new ones are given.
  const keep = cameras ?? (await api.pushSubscriptions(householdId)).find((s) => s.endpoint === sub.endpoint)?.cameras ?? [];
  const saved = await api.pushSubscribe(householdId, { endpoint: sub.endpoint, p256dh: j.keys?.p256dh ?? '', auth: j.keys?.auth ?? '', cameras: keep });
  dispatchEvent(new CustomEvent('porchlight:alert-cameras', { detail: saved.cameras }));
  return saved;
}

/** This browser's push subscription for the household, if it has one. */
async function mySubscription(householdId: string): Promise<PushSubscriptionJson | null> {
  const reg = await navigator.serviceWorker?.getRegistration('/');
  const sub = await reg?.pushManager?.getSubscription();
  if (!sub) return null;
  return (await api.pushSubscriptions(householdId)).find((s) => s.endpoint === sub.endpoint) ?? null;
}

/**
 * Settings → "Alerts on this device": turn notifications on, and choose the cameras whose
 * events notify this browser (the server pushes only those; the open app rings only for
 * them). Each member and each of their devices chooses for itself.
 */
export function AlertChooser(p: { householdId: string; keys: Keyring }) {
  const [tick, setTick] = useState(0);
  const [permission, setPermission] = useState(notificationPermission);
  const name = useCameraNames(p.householdId, p.keys);
  const data = useAsync(async () => {
    const [h, st] = await Promise.all([api.household(p.householdId), api.cameraStatus(p.householdId)]);
    const cameras = [...new Set([...h.cameras, ...st.map((s) => s.camera)])].sort();
    const mine = permission === 'granted' ? await mySubscription(p.householdId).catch(() => null) : null;
    return { cameras, mine };
  }, [p.householdId, tick, permission]);
  const [chosen, setChosen] = useState<Set<string> | null>(null);
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  if (permission === 'unsupported') return <p className="muted">This browser cannot show notifications.</p>;
  if (permission === 'denied') return <p className="muted">Notifications are blocked for this site in the browser’s settings; allow them there to get alerts.</p>;
  if (data.error) return <p role="alert">{data.error}</p>;
  if (!data.value) return <p aria-busy="true">Loading…</p>;
  const { cameras, mine } = data.value;
  if (permission === 'default' || !mine) {
    const turnOn = () =>
      void run(async () => {
        localStorage.setItem(ASKED, '1');
        const got = permission === 'granted' ? 'granted' : await Notification.requestPermission();
        setPermission(got);
        if (got !== 'granted') return;
        localStorage.removeItem(offKey(p.householdId));
        await subscribePush(p.householdId, []);
        setTick((t) => t + 1);
      });
    return (
      <>
        <p>{permission === 'granted' ? 'This device shows alerts while Porchlight is open. Turn on push to get them with it closed.' : 'Get a notification with a picture when someone rings or is seen, even with Porchlight closed.'}</p>
        <button type="button" onClick={turnOn} disabled={busy}>
          Turn on alerts on this device
        </button>
        <Feedback error={error} />
      </>
    );
  }
  const current = chosen ?? new Set(mine.cameras.length === 0 ? cameras : mine.cameras);
  const toggle = (c: string, on: boolean) => {
    const next = new Set(current);
    if (on) next.add(c);
    else next.delete(c);
    setChosen(next);
    setOk(null);
  };
  const save = () =>
    void run(async () => {
      if (current.size === 0) {
        await api.pushUnsubscribe(p.householdId, mine.id);
        localStorage.setItem(offKey(p.householdId), '1');
        dispatchEvent(new CustomEvent('porchlight:alert-cameras', { detail: null }));
        setOk('Alerts are off on this device.');
      } else {
        localStorage.removeItem(offKey(p.householdId));
        const all = cameras.every((c) => current.has(c));
        await subscribePush(p.householdId, all ? [] : [...current].sort());
        setOk(all ? 'This device is alerted for every camera, new ones too.' : `This device is alerted for ${[...current].sort().map(name).join(', ')}.`);
      }
      setChosen(null);
      setTick((t) => t + 1);
    });
  return (
    <fieldset className="alert-cameras">
      <legend>Cameras that notify this device</legend>
      {cameras.map((c) => (
        <label key={c}>
          <input type="checkbox" checked={current.has(c)} onChange={(e) => toggle(c, e.target.checked)} /> {name(c)}
        </label>
      ))}
      <p className="muted">Doorbell presses ring in every mode; other events only where the household’s mode notifies for the camera.</p>
      <button type="button" onClick={save} disabled={busy}>
        Save alerts
      </button>
      <Feedback error={error} ok={ok} />
    </fieldset>
  );
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
  // Which cameras ring this device (null: alerts off here; empty: all), as chosen under
  // Settings → Alerts on this device and kept with the push subscription.
  const ringing = useRef<string[] | null>([]);
  const name = useCameraNames(p.householdId, p.keys);
  const nameRef = useRef(name);
  useEffect(() => {
    nameRef.current = name;
  });
  useEffect(() => {
    const chosen = (e: Event) => (ringing.current = (e as CustomEvent<string[] | null>).detail);
    addEventListener('porchlight:alert-cameras', chosen);
    return () => removeEventListener('porchlight:alert-cameras', chosen);
  }, []);
  useEffect(() => {
    registerWorker()?.catch(() => {});
    if (notificationPermission() !== 'granted') return;
    if (localStorage.getItem(offKey(p.householdId)) !== null) {
      ringing.current = null;
      document.documentElement.dataset.push = 'off';
      return;
    }
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
          const rings = ringing.current;
          if (meta.kind !== 'doorbell' || rings === null || (rings.length > 0 && !rings.includes(e.camera))) return;
          chime();
          if (notificationPermission() === 'granted') {
            const n = new Notification(`Doorbell: ${nameRef.current(e.camera)}`, {
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
            <Snapshot id={t.e.snapshot_object ?? null} keys={p.keys} alt={`Snapshot of the new event on ${name(t.e.camera)}`} />
            <span>
              <strong>{t.label ?? 'New event'}</strong> on {name(t.e.camera)}
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
