// Plays decrypted MP4 bytes as they arrive. A fragmented MP4 (what agents seal for event
// clips) goes through Media Source Extensions chunk by chunk; anything else is collected
// and played from a blob: URL once complete.

function find(b: Uint8Array, fourcc: string, from = 0): number {
  const c = [...fourcc].map((x) => x.charCodeAt(0));
  for (let i = from; i + 4 <= b.length; i++) {
    if (b[i] === c[0] && b[i + 1] === c[1] && b[i + 2] === c[2] && b[i + 3] === c[3]) return i;
  }
  return -1;
}

const h2 = (x: number) => x.toString(16).padStart(2, '0');

/** The MSE type of an MP4 from its first bytes (the `moov` box), or null: its picture's
 * codec and, when the camera's sound was recorded, the sound's (Opus, or AAC as cameras
 * send it). */
export function mimeOf(init: Uint8Array): string | null {
  let video: string | null = null;
  const avc = find(init, 'avcC');
  if (avc >= 0 && avc + 8 <= init.length) {
    video = `avc1.${h2(init[avc + 5]!)}${h2(init[avc + 6]!)}${h2(init[avc + 7]!)}`;
  } else if (find(init, 'hvcC') >= 0) {
    video = 'hvc1.1.6.L120.90';
  }
  const audio = find(init, 'dOps') >= 0 ? 'opus' : find(init, 'esds') >= 0 ? 'mp4a.40.2' : null;
  if (video) return `video/mp4; codecs="${audio ? `${video}, ${audio}` : video}"`;
  if (audio) return `audio/mp4; codecs="${audio}"`;
  return null;
}

/** The MP4 has a sound track (a `soun` handler in its `moov` box). */
export function hasSound(mp4: Uint8Array): boolean {
  let at = 0;
  while (at + 8 <= mp4.length) {
    const size = ((mp4[at]! << 24) >>> 0) + (mp4[at + 1]! << 16) + (mp4[at + 2]! << 8) + mp4[at + 3]!;
    if (find(mp4.subarray(at + 4, at + 8), 'moov') === 0) return find(mp4.subarray(at, at + size), 'soun') >= 0;
    if (size < 8) return false;
    at += size;
  }
  return false;
}

export const isFragmented = (init: Uint8Array) => find(init, 'mvex') >= 0;

export class ClipPlayer {
  private parts: Uint8Array[] = [];
  private ms: MediaSource | null = null;
  private sb: SourceBuffer | null = null;
  private queue: Uint8Array[] = [];
  private ended = false;
  private url: string | null = null;
  private mode: 'undecided' | 'mse' | 'blob' = 'undecided';
  /** Live: the wall time (Unix ms) of media time 0, from the agent's `pltw` box. */
  wallAtZero: number | null = null;
  /** Live: how much further behind the newest data to play than the usual 0.3 s, in
   * seconds (to wait for the other of picture and sound). */
  extraLag = 0;

  /** `live`: playback stays near the newest frame. `keep`: the bytes are kept for a
   * download (default: unless live); otherwise video already watched is dropped from the
   * buffer as playback moves on. */
  constructor(
    private video: HTMLMediaElement,
    private live = false,
    private keep = !live,
  ) {}

  push(plain: Uint8Array): void {
    // A live session's first segment starts with the wall time of its media time 0, and a
    // later one again when the agent's clock has moved it.
    if (plain.length >= 16 && find(plain.subarray(4, 8), 'pltw') === 0) {
      this.wallAtZero = Number(new DataView(plain.buffer, plain.byteOffset + 8, 8).getBigInt64(0));
      plain = plain.subarray(16);
    }
    if (this.keep) this.parts.push(plain);
    if (this.mode === 'undecided') {
      const type = mimeOf(plain);
      if (type && isFragmented(plain) && 'MediaSource' in window && MediaSource.isTypeSupported(type)) {
        this.mode = 'mse';
        this.ms = new MediaSource();
        this.url = URL.createObjectURL(this.ms);
        this.video.src = this.url;
        this.ms.addEventListener(
          'sourceopen',
          () => {
            this.sb = this.ms!.addSourceBuffer(type);
            this.sb.mode = 'segments';
            this.sb.addEventListener('updateend', () => this.pump());
            this.pump();
          },
          { once: true },
        );
      } else {
        this.mode = 'blob';
      }
    }
    if (this.mode === 'mse') {
      this.queue.push(plain);
      this.pump();
    }
  }

  private pump(): void {
    if (!this.sb || this.sb.updating || !this.ms || this.ms.readyState !== 'open') return;
    if (this.live && this.sb.buffered.length > 0) {
      const end = this.sb.buffered.end(this.sb.buffered.length - 1);
      // Stay live: a tab that fell behind (hidden, slow) jumps to the newest frames. A
      // session starts with the camera's current group of pictures, up to a key-frame
      // interval old: the first picture shows at once and playback catches up quickly.
      const behind = end - this.video.currentTime - this.extraLag;
      if (behind > 3) this.video.currentTime = end - 0.3 - this.extraLag;
      else this.video.playbackRate = behind > 1 ? 2 : behind > 0.3 ? 1.25 : 1;
    }
    if (!this.keep && this.sb.buffered.length > 0) {
      const start = this.sb.buffered.start(0);
      if (this.video.currentTime - start > 30) {
        this.sb.remove(start, this.video.currentTime - 10);
        return;
      }
    }
    const next = this.queue.shift();
    if (next) {
      this.sb.appendBuffer(next as BufferSource);
    } else if (this.ended) {
      this.ms.endOfStream();
    }
  }

  /** Whether it is playing now (not paused, and with media ahead to play). */
  playing(): boolean {
    return !this.video.paused && this.video.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA;
  }

  /** Live: the wall time (Unix ms) of what plays now, once known. */
  wallNow(): number | null {
    return this.wallAtZero === null ? null : this.wallAtZero + this.video.currentTime * 1000;
  }

  /** Live: plays `seconds` later than now (negative: sooner, within what is buffered). */
  shift(seconds: number): void {
    this.extraLag = Math.max(0, this.extraLag + seconds);
    this.video.currentTime = Math.max(0, this.video.currentTime - seconds);
  }

  /** Everything arrived and verified. */
  finish(): void {
    this.ended = true;
    if (this.mode === 'mse') this.pump();
    else {
      this.url = URL.createObjectURL(this.blob());
      this.video.src = this.url;
    }
  }

  /** Verification failed: stop and show nothing of it. */
  abort(): void {
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    this.parts = [];
    this.queue = [];
    this.release();
  }

  blob(): Blob {
    return new Blob(this.parts as BlobPart[], { type: 'video/mp4' });
  }

  release(): void {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }
}
