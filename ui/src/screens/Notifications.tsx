import { useEffect, useState } from 'react';
import type { EventJson } from '../api';
import type { Keyring } from '../crypto/format';
import { openMeta, titleOf } from '../objects';
import { Snapshot } from './common';

interface Toast {
  e: EventJson;
  label: string | null;
}

/**
 * The household's live events (server-sent events): each one is announced with its
 * snapshot for 8 seconds and handed to the timeline (a `porchlight:event` window event).
 * The browser's EventSource reconnects by itself after a drop.
 */
export function Notifications(p: { householdId: string; keys: Keyring }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  useEffect(() => {
    const src = new EventSource(`/api/households/${p.householdId}/events/live`);
    src.addEventListener('event', (m) => {
      const e = JSON.parse((m as MessageEvent<string>).data) as EventJson;
      dispatchEvent(new CustomEvent('porchlight:event', { detail: e }));
      const toast: Toast = { e, label: null };
      setToasts((t) => [toast, ...t].slice(0, 3));
      openMeta(e.meta_object, p.keys).then(
        (m) => setToasts((t) => t.map((x) => (x.e.id === e.id ? { ...x, label: titleOf(m) } : x))),
        () => {},
      );
      setTimeout(() => setToasts((t) => t.filter((x) => x.e.id !== e.id)), 8000);
    });
    return () => src.close();
  }, [p.householdId, p.keys]);
  return (
    <div className="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <a key={t.e.id} className="toast" href={`#/timeline?camera=${encodeURIComponent(t.e.camera)}`} data-testid="notification">
          <Snapshot id={t.e.snapshot_object ?? null} keys={p.keys} alt={`Snapshot of the new event on ${t.e.camera}`} />
          <span>
            <strong>{t.label ?? 'New event'}</strong> on {t.e.camera}
            <br />
            {new Date(t.e.start_ms).toLocaleTimeString()}
          </span>
        </a>
      ))}
    </div>
  );
}
