import { useEffect, useRef, useState } from 'react';
import type { Keyring } from '../crypto/format';
import { watchLive } from '../live';
import { ClipPlayer } from '../mse';

type Status = { kind: 'connecting' } | { kind: 'live' } | { kind: 'ended'; message: string };

/** Live view of one camera, decrypted in the browser; closing the dialog ends the session. */
export function Live(p: { householdId: string; camera: string; label: string; keys: Keyring; onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const [status, setStatus] = useState<Status>({ kind: 'connecting' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const d = dialog.current!;
    if (!d.open) d.showModal();
    const player = new ClipPlayer(video.current!, true);
    const abort = new AbortController();
    let first = true;
    watchLive(
      p.householdId,
      p.camera,
      p.keys,
      (seg) => {
        player.push(seg);
        if (first) {
          first = false;
          setStatus({ kind: 'live' });
        }
      },
      abort.signal,
    ).then(
      () => setStatus({ kind: 'ended', message: 'The live stream ended.' }),
      (e: Error) => {
        if (e.name === 'AbortError') return;
        player.abort();
        setStatus({ kind: 'ended', message: e.message });
      },
    );
    // No picture within 20 s: the agent is offline or did not accept the request.
    const t = setTimeout(() => {
      if (first) {
        abort.abort();
        setStatus({ kind: 'ended', message: 'The camera’s agent did not answer. It may be offline.' });
      }
    }, 20_000);
    return () => {
      clearTimeout(t);
      abort.abort();
      player.release();
    };
  }, [p.householdId, p.camera, p.keys, attempt]);

  return (
    <dialog ref={dialog} className="player" aria-label={`Live view of ${p.label}`} onClose={p.onClose}>
      <div className="player-head">
        <h2>{p.label} · live</h2>
        <button onClick={() => dialog.current?.close()} aria-label="Close">
          ✕
        </button>
      </div>
      <video ref={video} autoPlay muted playsInline aria-label={`Live video from ${p.label}`} />
      {status.kind === 'connecting' && <p aria-live="polite">Asking the camera’s agent…</p>}
      {status.kind === 'live' && (
        <p className="verified" data-testid="live-on">
          ● Live, encrypted between the agent and this browser.
        </p>
      )}
      {status.kind === 'ended' && (
        <p role="alert">
          {status.message}{' '}
          <button
            type="button"
            onClick={() => {
              setStatus({ kind: 'connecting' });
              setAttempt((a) => a + 1);
            }}
          >
            Try again
          </button>
        </p>
      )}
    </dialog>
  );
}
