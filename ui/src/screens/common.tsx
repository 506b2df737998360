import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api';
import type { Keyring } from '../crypto/format';
import { imageUrl } from '../objects';
import { mayReconnect } from '../live';

export function useAsync<T>(f: () => Promise<T>, deps: DependencyList): { value: T | null; error: string | null } {
  const [state, setState] = useState<{ value: T | null; error: string | null }>({ value: null, error: null });
  useEffect(() => {
    let live = true;
    f().then(
      (value) => live && setState({ value, error: null }),
      (e: Error) => live && setState((s) => ({ value: s.value, error: e.message })),
    );
    return () => {
      live = false;
    };
    // The caller's deps decide when to re-run.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

export function ago(ms: number): string {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

/**
 * A decrypted snapshot in a box of fixed aspect ratio (no layout shift when it loads),
 * fetched only when it scrolls into view.
 */
export function Snapshot(p: { id: string | null; keys: Keyring; alt: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!p.id || !el) return;
    let live = true;
    const id = p.id;
    const io = new IntersectionObserver(
      (entries) => {
        if (!entries.some((e) => e.isIntersecting)) return;
        io.disconnect();
        imageUrl(id, p.keys).then(
          (u) => live && setUrl(u),
          (e: Error) => live && setFailed(e.message),
        );
      },
      { rootMargin: '400px' },
    );
    io.observe(el);
    return () => {
      live = false;
      io.disconnect();
    };
  }, [p.id, p.keys]);
  return (
    <div className="thumb" ref={box}>
      {url ? <img src={url} alt={p.alt} /> : failed ? <span className="thumb-note" title={failed}>Cannot open</span> : !p.id ? <span className="thumb-note">No snapshot</span> : null}
    </div>
  );
}

/** What to tell the user about a failure: the server's message names the field. */
export function message(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof DOMException && e.name === 'NotAllowedError') return 'The passkey prompt was cancelled or timed out.';
  return (e as Error).message || String(e);
}

/** Runs one user action at a time: `busy` while it runs, its failure as `error`. */
export function useAction(): [(f: () => Promise<void>) => Promise<void>, string | null, boolean] {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return [run, error, busy];
}

/** A failure (announced as an alert) and an optional success line. */
export function Feedback(p: { error: string | null; ok?: string | null }) {
  return (
    <>
      {p.error && (
        <p role="alert" className="error">
          {p.error}
        </p>
      )}
      {p.ok && <p role="status">{p.ok}</p>}
    </>
  );
}

/**
 * A live session's attempt number (an effect's dependency) and two ways to start the next:
 * `reconnect` after a session that played ended by itself, a few times a minute
 * (`mayReconnect`; false when no more are allowed), and `again` when the user asks.
 */
export function useReconnect(): { attempt: number; reconnect: () => boolean; again: () => void } {
  const [attempt, setAttempt] = useState(0);
  const history = useRef<number[]>([]);
  const reconnect = useCallback(() => {
    if (!mayReconnect(history.current)) return false;
    setAttempt((a) => a + 1);
    return true;
  }, []);
  const again = useCallback(() => setAttempt((a) => a + 1), []);
  return { attempt, reconnect, again };
}
