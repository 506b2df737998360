import { Talker, talkInfo } from '../talk';
import { useEffect, useRef, useState } from 'react';
import type { Keyring } from '../crypto/format';
import { watchLive } from '../live';
import { useReconnect } from './common';
import { ClipPlayer } from '../mse';

type Status = { kind: 'connecting' } | { kind: 'live' } | { kind: 'ended'; message: string };

/**
 * Live view of one camera, decrypted in the browser; closing the dialog ends the session.
 * `speaker`: whether the household's agent can play sound through the camera (`null`: not
 * known yet, so talking is offered and the agent says if it cannot).
 */
export function Live(p: { householdId: string; camera: string; label: string; keys: Keyring; canTalk?: boolean; speaker?: boolean | null; onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const [status, setStatus] = useState<Status>({ kind: 'connecting' });
  const { attempt, reconnect, again } = useReconnect();

  useEffect(() => {
    const d = dialog.current!;
    if (!d.open) d.showModal();
    const live = playLive(video.current!, p.householdId, p.camera, p.keys, false, {
      first: () => setStatus({ kind: 'live' }),
      ended: (error, any) => {
        // A session that played and ended (a camera whose timing jumped, a dropped
        // connection, the session's length reached) is asked for again by itself.
        if (!any || !reconnect()) setStatus({ kind: 'ended', message: error ?? 'The live stream ended.' });
      },
    });
    pictures.set(p.camera, live.player);
    // No picture within 20 s: the agent is offline or did not accept the request.
    const t = setTimeout(() => {
      if (!live.started()) {
        live.stop();
        setStatus({ kind: 'ended', message: 'The camera’s agent did not answer. It may be offline.' });
      }
    }, 20_000);
    return () => {
      clearTimeout(t);
      if (pictures.get(p.camera) === live.player) pictures.delete(p.camera);
      live.stop();
    };
  }, [p.householdId, p.camera, p.keys, attempt, reconnect]);

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
      <SoundControl householdId={p.householdId} camera={p.camera} label={p.label} keys={p.keys} />
      {p.canTalk && p.speaker !== false && <TalkControl householdId={p.householdId} camera={p.camera} label={p.label} keys={p.keys} />}
      {p.canTalk && p.speaker === false && (
        <p className="muted" data-testid="no-speaker">
          {p.label} has no speaker the agent can reach, so you cannot talk through it.
        </p>
      )}
      {status.kind === 'ended' && (
        <p role="alert">
          {status.message}{' '}
          <button
            type="button"
            onClick={() => {
              setStatus({ kind: 'connecting' });
              again();
            }}
          >
            Try again
          </button>
        </p>
      )}
    </dialog>
  );
}

/**
 * Plays a live session into `el`: the picture, or with `audio` the sound. `first` is told
 * at the first segment; `ended` when the session ends by itself (with the error, if any,
 * and whether anything played). `stop` ends it.
 */
function playLive(
  el: HTMLMediaElement,
  householdId: string,
  camera: string,
  keys: Keyring,
  audio: boolean,
  on: { first: () => void; ended: (error: string | null, any: boolean) => void },
): { stop: () => void; started: () => boolean; player: ClipPlayer } {
  const player = new ClipPlayer(el, true);
  const abort = new AbortController();
  let started = false;
  watchLive(
    householdId,
    camera,
    keys,
    (seg) => {
      player.push(seg);
      if (!started) {
        started = true;
        on.first();
      }
    },
    abort.signal,
    false,
    audio,
  ).then(
    () => on.ended(null, started),
    (e: Error) => {
      if (e.name === 'AbortError') return;
      player.abort();
      on.ended(e.message, started);
    },
  );
  return {
    stop: () => {
      abort.abort();
      player.release();
    },
    started: () => started,
    player,
  };
}

/** The picture playing live per camera, for its sound to line up with. */
const pictures = new Map<string, ClipPlayer>();

/**
 * Sound and picture further apart than this are lined up again (by a seek, which the ear
 * notices: not for every few milliseconds of the estimates' own wobble).
 */
const SYNC_MS = 15;

/**
 * Keeps `sound` in step with the camera's picture, both live: each says the wall time of
 * what it plays (the agent's `pltw`), and the one ahead is moved back to wait for the
 * other. Returns the last gap measured (sound minus picture, ms) through `onSkew`.
 */
function lineUp(camera: string, sound: ClipPlayer, onSkew: (ms: number) => void): () => void {
  const t = setInterval(() => {
    const picture = pictures.get(camera);
    const [s, p] = [sound.wallNow(), picture?.wallNow() ?? null];
    // Only two that play are lined up: a picture that stalled (or is reconnecting) must
    // not hold the sound back with it.
    if (!picture || s === null || p === null || !picture.playing() || !sound.playing()) return;
    const skew = s - p;
    onSkew(Math.round(skew));
    if (Math.abs(skew) <= SYNC_MS) return;
    if (skew < 0) picture.shift(-skew / 1000);
    else sound.shift(skew / 1000);
    // Wait no longer than needed: both held back is one held back less.
    const both = Math.min(picture.extraLag, sound.extraLag);
    if (both > 0) {
      picture.shift(-both);
      sound.shift(-both);
    }
  }, 500);
  return () => {
    clearInterval(t);
    const picture = pictures.get(camera);
    if (picture) picture.extraLag = 0;
  };
}

type TalkView = { kind: 'idle' } | { kind: 'starting' } | { kind: 'connecting' } | { kind: 'talking' } | { kind: 'failed'; message: string };

/**
 * Talking through the camera's speaker: hold the button to talk (push-to-talk), or switch
 * talking on and off (both ways at once, with the browser's echo cancellation). Shows who
 * else is talking through this camera, and why a session failed.
 */
function TalkControl(p: { householdId: string; camera: string; label: string; keys: Keyring }) {
  const talker = useRef<Talker | null>(null);
  const [view, setView] = useState<TalkView>({ kind: 'idle' });
  const [latched, setLatched] = useState(false);
  const [other, setOther] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    const look = () =>
      talkInfo(p.householdId).then(
        (i) => live && setOther(i.talking.find((t) => t.camera === p.camera && !talker.current)?.email ?? null),
        () => undefined,
      );
    void look();
    const t = setInterval(() => void look(), 3000);
    return () => {
      live = false;
      clearInterval(t);
      void talker.current?.stop();
    };
  }, [p.householdId, p.camera]);

  const start = () => {
    if (talker.current) return;
    setView({ kind: 'starting' });
    const t = new Talker(p.householdId, p.camera, p.keys, (s) => {
      if (talker.current !== t) return;
      if (s.stage === 'connecting') setView({ kind: 'connecting' });
      else if (s.stage === 'talking') setView({ kind: 'talking' });
      else {
        talker.current = null;
        setLatched(false);
        setView(s.error ? { kind: 'failed', message: s.error } : { kind: 'idle' });
      }
    });
    talker.current = t;
    t.start().catch((e: Error) => {
      if (talker.current !== t) return;
      talker.current = null;
      setLatched(false);
      void t.stop();
      setView({ kind: 'failed', message: e.name === 'NotAllowedError' ? 'The browser did not allow the microphone.' : e.message });
    });
  };
  const stop = () => {
    const t = talker.current;
    talker.current = null;
    setView({ kind: 'idle' });
    void t?.stop();
  };
  const on = view.kind === 'starting' || view.kind === 'connecting' || view.kind === 'talking';
  return (
    <div className="talk" data-testid="talk" data-state={view.kind}>
      <button
        type="button"
        className={`talk-hold${on && !latched ? ' on' : ''}`}
        disabled={latched || !!other}
        onPointerDown={(e) => {
          e.currentTarget.setPointerCapture(e.pointerId);
          start();
        }}
        onPointerUp={() => !latched && stop()}
        onPointerCancel={() => !latched && stop()}
        onKeyDown={(e) => (e.key === ' ' || e.key === 'Enter') && !e.repeat && start()}
        onKeyUp={(e) => (e.key === ' ' || e.key === 'Enter') && !latched && stop()}
      >
        Hold to talk
      </button>
      <button
        type="button"
        aria-pressed={latched}
        disabled={!!other}
        onClick={() => {
          if (latched) {
            setLatched(false);
            stop();
          } else {
            setLatched(true);
            start();
          }
        }}
      >
        {latched ? 'Stop talking' : 'Talk'}
      </button>
      <span aria-live="polite" className="talk-state">
        {other
          ? `${other} is talking through ${p.label}.`
          : view.kind === 'starting' || view.kind === 'connecting'
            ? `Reaching ${p.label}’s speaker…`
            : view.kind === 'talking'
              ? `● ${p.label} hears you. Encrypted for the agent only.`
              : view.kind === 'failed'
                ? `Talking failed: ${view.message}`
                : ''}
      </span>
    </div>
  );
}

/**
 * The camera's sound, off until asked for (browsers play sound only after a click): a
 * session of its own beside the picture's, Opus sealed for this browser, played through an
 * audio element kept near the newest sound received.
 */
function SoundControl(p: { householdId: string; camera: string; label: string; keys: Keyring }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [on, setOn] = useState(false);
  const [state, setState] = useState<'off' | 'starting' | 'playing' | string>('off');
  const [skew, setSkew] = useState<number | null>(null);
  const { attempt, reconnect } = useReconnect();
  useEffect(() => {
    if (!on) return;
    const el = audio.current!;
    const live = playLive(el, p.householdId, p.camera, p.keys, true, {
      first: () => {
        setState('playing');
        void el.play().catch(() => undefined);
      },
      ended: (error, any) => {
        if (!any || !reconnect()) setState(error ?? (any ? 'The sound ended.' : `${p.label} sends no sound this app can play.`));
      },
    });
    const t = setTimeout(() => {
      if (!live.started()) {
        live.stop();
        setState('The camera’s agent did not answer with sound. It may be offline.');
      }
    }, 20_000);
    // In step with the picture (the two are sessions of their own).
    const stopSync = lineUp(p.camera, live.player, setSkew);
    return () => {
      clearTimeout(t);
      stopSync();
      live.stop();
    };
  }, [on, p.householdId, p.camera, p.keys, p.label, attempt, reconnect]);
  return (
    <div
      className="sound"
      data-testid="sound"
      data-state={state === 'off' || state === 'starting' || state === 'playing' ? state : 'ended'}
      data-skew-ms={skew ?? ''}
    >
      <button
        type="button"
        aria-pressed={on}
        onClick={() => {
          setState(on ? 'off' : 'starting');
          setOn(!on);
        }}
      >
        {on ? 'Sound off' : 'Sound on'}
      </button>
      <audio ref={audio} data-testid="live-sound" />
      <span className="talk-state" aria-live="polite">
        {state === 'starting' ? 'Asking for the camera’s sound…' : state === 'playing' ? '● Sound, encrypted between the agent and this browser.' : state === 'off' ? '' : state}
      </span>
    </div>
  );
}
