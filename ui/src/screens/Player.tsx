import { useEffect, useRef, useState } from 'react';
import { type EventJson, api } from '../api';
import { hex } from '../crypto/bytes';
import { type Keyring, fingerprint } from '../crypto/format';
import { ClipPlayer } from '../mse';
import { VerifyError, openClipStream } from '../objects';

type Status =
  | { kind: 'waiting' }
  | { kind: 'loading'; received: number; total: number }
  | { kind: 'verified'; device: string; fp: string; download: string; name: string }
  | { kind: 'failed'; message: string; altered: boolean };

/**
 * Plays an event's clip: the header's device signature is checked before a byte plays,
 * each 64 KiB chunk is decrypted as it arrives and handed to Media Source Extensions, and
 * the body's digest is compared with the signed one at the end; a clip that fails any
 * check stops and is not offered for download. An event still going on has no clip yet:
 * the player says so and plays the clip as soon as the finished event arrives.
 */
export function Player(p: { event: EventJson; keys: Keyring; householdId: string; cameraName: string; onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const [event, setEvent] = useState(p.event);
  const [status, setStatus] = useState<Status>({ kind: 'loading', received: 0, total: 0 });

  // The finished event (Notifications dispatches every update) replaces the one in progress.
  useEffect(() => {
    const f = (ev: Event) => {
      const e = (ev as CustomEvent<EventJson>).detail;
      if (e.id === p.event.id) setEvent(e);
    };
    addEventListener('porchlight:event', f);
    return () => removeEventListener('porchlight:event', f);
  }, [p.event.id]);

  useEffect(() => {
    const d = dialog.current!;
    if (!d.open) d.showModal();
    const v = video.current!;
    const player = new ClipPlayer(v);
    const abort = new AbortController();
    const clip = event.clip_object;
    let shown = 0;
    (async () => {
      if (!clip && event.in_progress) {
        setStatus({ kind: 'waiting' });
        return;
      }
      setStatus({ kind: 'loading', received: 0, total: 0 });
      if (!clip) throw new Error('This event has no clip (the camera had nothing recorded for it).');
      const header = await openClipStream(
        clip,
        p.keys,
        (plain, prog) => {
          player.push(plain);
          // Progress at most ten times a second: a render per 64 KiB chunk costs more than the chunk.
          if (performance.now() - shown > 100) {
            shown = performance.now();
            setStatus({ kind: 'loading', received: prog.received, total: prog.total });
          }
        },
        abort.signal,
      );
      player.finish();
      const devices = await api.devices(p.householdId).catch(() => []);
      const identity = hex(header.device);
      const device = devices.find((x) => x.identity.toLowerCase() === identity);
      const download = URL.createObjectURL(player.blob());
      const name = `${header.camera}-${new Date(header.startMs).toISOString().replace(/[:.]/g, '-')}.mp4`;
      setStatus({ kind: 'verified', device: device ? device.name : 'a device not paired with this household', fp: await fingerprint(header.device), download, name });
    })().catch((e: Error) => {
      if (e.name === 'AbortError') return;
      player.abort();
      setStatus({ kind: 'failed', message: e.message, altered: e instanceof VerifyError });
    });
    return () => {
      abort.abort();
      player.release();
    };
  }, [event, p.keys, p.householdId]);

  useEffect(() => () => {
    if (status.kind === 'verified') URL.revokeObjectURL(status.download);
  }, [status]);

  return (
    <dialog ref={dialog} className="player" aria-label={`Clip from ${p.cameraName}`} onClose={p.onClose}>
      <div className="player-head">
        <h2>
          {p.cameraName} · {new Date(event.start_ms).toLocaleString()}
        </h2>
        <button onClick={() => dialog.current?.close()} aria-label="Close">
          ✕
        </button>
      </div>
      <video ref={video} controls autoPlay muted playsInline aria-label="Event clip" />
      {status.kind === 'waiting' && (
        <p aria-busy="true" data-testid="clip-waiting">
          Going on now: the clip plays here as soon as it ends. Watch the camera live meanwhile.
        </p>
      )}
      {status.kind === 'loading' && (
        <p aria-live="polite">
          Verifying and decrypting… {status.total ? `${Math.round((100 * status.received) / status.total)}%` : ''}
        </p>
      )}
      {status.kind === 'failed' && (
        <p role="alert" className="error" data-testid="clip-error">
          {status.altered ? 'This clip failed verification and was not played: ' : 'The clip could not be played: '}
          {status.message}
        </p>
      )}
      {status.kind === 'verified' && (
        <p className="verified" data-testid="clip-verified">
          ✓ Signed by {status.device} (fingerprint <code>{status.fp}</code>); unaltered since it was recorded.{' '}
          <a href={status.download} download={status.name}>
            Download MP4
          </a>
        </p>
      )}
    </dialog>
  );
}
