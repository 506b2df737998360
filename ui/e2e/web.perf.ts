// The web app's figures for BENCHMARKS.md (run by `BENCH=web scripts/bench.sh`, which
// passes the release binary and a 1080p30 H.264 file (the 60 s test pattern looped to 20 minutes) as PORCHLIGHT_BENCH_CLIP):
//   - click on an event to its first frame, for a 30 s 1080p clip over loopback;
//   - WebCrypto decrypt throughput in Chromium (64 KiB AES-256-GCM chunks, the format's);
//   - the first screen's bytes, gzipped as the server sends them.
// These are measurements printed as figures, not pass/fail tests.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { launch, ownerWithAgent, repo, ringDoorbell, scratch, startAgent, startRtsp, startServer, stopAll, waitFor } from './harness';

const clip = process.env.PORCHLIGHT_BENCH_CLIP ?? '';
let browser: Browser;
let dir: string;
let server: { url: string; data: string };

beforeAll(async () => {
  if (!clip) throw new Error('PORCHLIGHT_BENCH_CLIP: a 1080p MP4 of at least 50 s (scripts/bench.sh makes one)');
  dir = scratch();
  server = await startServer(join(dir, 'server'));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  stopAll();
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

it('measures the web app', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const { agentDir, data } = await ownerWithAgent(page, server.url, dir, 'bench@example.org', 'Bench');
  const rtsp = await startRtsp(agentDir, clip);
  // A doorbell with 15 s before and after: a 30 s clip.
  const http = await startAgent(agentDir, data, rtsp, 15);
  await waitFor('16 s of recording', 60_000, async () => {
    const s = (JSON.parse(readFileSync(join(data, 'status.json'), 'utf8')) as { streams: { camera: string; frames_recorded: number }[] }).streams;
    return (s.find((x) => x.camera === 'door')?.frames_recorded ?? 0) > 16 * 30;
  });
  await ringDoorbell(http);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Timeline', exact: true }).click();
  // The event is listed from its start (in progress, no clip); wait for the finished one.
  const newest = () =>
    page.evaluate(async () => {
      const r = await fetch('/api/session');
      const s = (await r.json()) as { households: { household_id: string }[] };
      const e = await (await fetch(`/api/households/${s.households[0]!.household_id}/events?limit=1&order=desc`)).json();
      return e as { clip_object: string | null; start_ms: number; end_ms: number }[];
    });
  const sizes = await waitFor('the event with its clip', 120_000, async () => ((await newest())[0]?.clip_object ? newest() : null));
  await page.reload();
  await page.getByRole('button', { name: /on door at .*: play/ }).first().waitFor();
  if (!sizes[0]?.clip_object) throw new Error('the event has no clip');

  // Click to first frame, five times (each open fetches, verifies and decrypts again).
  const times: number[] = [];
  const verified: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = await page.evaluate(async () => {
      const row = document.querySelector<HTMLButtonElement>('.event-row')!;
      const t0 = performance.now();
      row.click();
      const first = await new Promise<number>((res, rej) => {
        setTimeout(() => rej(new Error('no frame within 20 s')), 20_000);
        const look = () => {
          const v = document.querySelector<HTMLVideoElement>('dialog video');
          if (v && 'requestVideoFrameCallback' in v) {
            v.requestVideoFrameCallback((now) => res(now - t0));
          } else requestAnimationFrame(look);
        };
        look();
      });
      const done = await new Promise<number>((res, rej) => {
        setTimeout(() => rej(new Error('not verified within 20 s')), 20_000);
        const look = () => (document.querySelector('[data-testid=clip-verified]') ? res(performance.now() - t0) : setTimeout(look, 5));
        look();
      });
      return { first, done };
    });
    process.stdout.write(`web: run ${i + 1}: first frame ${t.first.toFixed(0)} ms, verified ${t.done.toFixed(0)} ms\n`);
    times.push(t.first);
    verified.push(t.done);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.locator('dialog').waitFor({ state: 'detached' });
  }
  // Live view, five times: click to the first decoded live frame, then how far playback
  // sits behind the newest frame received (sampled for 5 s). The agent's camera is the
  // RTSP server replaying the file in real time, key frames every 2 s.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cameras', exact: true }).click();
  const watch = page.getByRole('button', { name: 'Watch door live' });
  await waitFor('the live button', 60_000, () => watch.isEnabled());
  const liveFirst: number[] = [];
  const liveLag: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await page.evaluate(async () => {
      const b = [...document.querySelectorAll<HTMLButtonElement>('button')].find((x) => x.textContent?.trim() === 'Watch door live' || x.getAttribute('aria-label') === 'Watch door live')!;
      const t0 = performance.now();
      b.click();
      const first = await new Promise<number>((res, rej) => {
        setTimeout(() => rej(new Error('no live frame within 20 s')), 20_000);
        const look = () => {
          const v = document.querySelector<HTMLVideoElement>('dialog video');
          if (v && 'requestVideoFrameCallback' in v) v.requestVideoFrameCallback((now) => res(now - t0));
          else requestAnimationFrame(look);
        };
        look();
      });
      const v = document.querySelector<HTMLVideoElement>('dialog video')!;
      const lags: number[] = [];
      const until = performance.now() + 5000;
      while (performance.now() < until) {
        await new Promise((res) => setTimeout(res, 100));
        if (v.buffered.length) lags.push(v.buffered.end(v.buffered.length - 1) - v.currentTime);
      }
      // Settled: the median over the last 2 s (a session starts up to a key-frame
      // interval behind and catches up).
      const settled = lags.slice(-20).sort((a, b) => a - b);
      return { first, lag: settled[Math.floor(settled.length / 2)] ?? NaN, start: lags[0] ?? NaN };
    });
    process.stdout.write(`web: live run ${i + 1}: first frame ${r.first.toFixed(0)} ms, behind the newest frame ${(r.start * 1000).toFixed(0)} ms at 0.1 s, ${(r.lag * 1000).toFixed(0)} ms settled\n`);
    liveFirst.push(r.first);
    liveLag.push(r.lag * 1000);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.locator('dialog').waitFor({ state: 'detached' });
  }

  const objSize = await page.evaluate(async (id) => (await fetch(`/api/objects/${id}`)).headers.get('content-length'), sizes[0].clip_object);
  const mb = Number(objSize) / 1e6;

  // WebCrypto alone: 64 MiB in 64 KiB AES-256-GCM chunks.
  const wc = await page.evaluate(async () => {
    const key = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt', 'decrypt']);
    const chunk = crypto.getRandomValues(new Uint8Array(65536));
    const sealed: ArrayBuffer[] = [];
    for (let i = 0; i < 1024; i++) {
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setUint32(7, i);
      sealed.push(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, chunk));
    }
    const t0 = performance.now();
    for (let i = 0; i < 1024; i++) {
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setUint32(7, i);
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, sealed[i]!);
    }
    return (64 * 1.048576) / ((performance.now() - t0) / 1000);
  });

  // The first screen: index.html and what it loads, as sent (gzip).
  const dist = join(repo, 'ui/dist');
  const first = ['index.html', ...readdirSync(join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f)).map((f) => `assets/${f}`)];
  let gz = 0;
  let raw = 0;
  for (const f of first) {
    raw += readFileSync(join(dist, f)).length;
    gz += readFileSync(join(dist, `${f}.gz`)).length;
  }

  const ms = (x: number) => `${x.toFixed(0)} ms`;
  process.stdout.write(
    [
      `web: click to first frame, 30 s 1080p clip (${mb.toFixed(1)} MB sealed): median ${ms(median(times))}, max ${ms(Math.max(...times))} (runs: ${times.map(ms).join(', ')})`,
      `web: click to fully verified: median ${ms(median(verified))}; whole pipeline (fetch, SHA-256 in JS, AES-GCM, MSE) ${(mb / (median(verified) / 1000)).toFixed(0)} MB/s`,
      `web: live view, click to first frame: median ${ms(median(liveFirst))}, max ${ms(Math.max(...liveFirst))}; playback behind the newest received frame once settled: median ${ms(median(liveLag))}`,
      `web: WebCrypto AES-256-GCM decrypt, 64 KiB chunks: ${wc.toFixed(0)} MB/s`,
      `web: first screen ${(gz / 1024).toFixed(1)} KiB gzipped (${(raw / 1024).toFixed(1)} KiB raw, ${first.length} files)`,
    ].join('\n') + '\n',
  );
  await ctx.close();
});
