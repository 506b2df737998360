// Live view's sound against its picture for BENCHMARKS.md (run by `BENCH=avsync
import { readFileSync } from 'node:fs';
// scripts/bench.sh`, which passes the release binary). The test camera serves a clip that
// flashes white for 100 ms and clicks at every whole second, picture and sound from one
// file (the sound as G.711, as most cameras send it) and one pipeline for all its clients
// (`shared=1`: the agent's recording session and its sound session see the same moment, as
// with a real camera; one pipeline per client would start the file anew for each). The page watches the camera live
// with "Sound on" and notes when each flash is shown (requestVideoFrameCallback's expected
// display time of the first bright frame) and when each click is played (an analyser on
// the sound's element, polled every 2 ms, plus the AudioContext's own output latency).
// Each click is paired with the nearest flash; + means the sound comes after the picture.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { freePort, launch, ownerWithAgent, repo, scratch, start, startServer, stopAll, waitFor, watchDoorLive } from './harness';

let browser: Browser;
let dir: string;
let server: { url: string; data: string };
let clip: string;

beforeAll(async () => {
  dir = scratch();
  server = await startServer(join(dir, 'server'));
  clip = join(dir, 'flash.mp4');
  const r = spawnSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=black:s=320x240:r=30:d=120'],
    ...['-f', 'lavfi', '-i', "aevalsrc='if(lt(mod(t\\,1)\\,0.01)\\,0.8*sin(2*PI*1000*t)\\,0)':s=16000:d=120"],
    ...['-vf', "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'"],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', clip],
  ]);
  if (r.status !== 0) throw new Error(`making the clip: ${r.stderr}`);
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  stopAll();
});

it('measures how far live view’s sound is from its picture', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const { agentDir, data } = await ownerWithAgent(page, server.url, dir, 'avsync@example.org', 'Sync');
  const port = await freePort();
  start('/usr/bin/python3', [join(repo, 'tests/rtsp_server.py'), '--port', String(port), '--mount', `/door=${clip},audio=file-pcmu,shared=1`], join(agentDir, 'rtsp.log'));
  await watchDoorLive(page, agentDir, data, `rtsp://127.0.0.1:${port}/door`);
  await page.getByRole('button', { name: 'Sound on' }).click();
  await waitFor('the sound', 30_000, async () => (await page.getByTestId('sound').getAttribute('data-state')) === 'playing');
  await page.waitForTimeout(3000);
  const { flashes, clicks } = await page.evaluate(async () => {
    const video = document.querySelector<HTMLVideoElement>('video[aria-label^="Live video from"]')!;
    const sound = document.querySelector<HTMLAudioElement>('[data-testid=live-sound]')!;
    const ac = new AudioContext();
    const an = ac.createAnalyser();
    an.fftSize = 32;
    ac.createMediaElementSource(sound).connect(an);
    an.connect(ac.destination);
    await ac.resume();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 8;
    const g = canvas.getContext('2d', { willReadFrequently: true })!;
    const flashes: number[] = [];
    const clicks: number[] = [];
    let bright = false;
    const onFrame = (_now: number, meta: { expectedDisplayTime: number }) => {
      g.drawImage(video, 0, 0, 8, 8);
      const px = g.getImageData(0, 0, 8, 8).data;
      let y = 0;
      for (let i = 0; i < px.length; i += 4) y += px[i]!;
      const now = y / 64 > 128;
      if (now && !bright) flashes.push(meta.expectedDisplayTime);
      bright = now;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    const d = new Float32Array(an.fftSize);
    let quiet = 0;
    const until = performance.now() + 20_000;
    while (performance.now() < until) {
      await new Promise((r) => setTimeout(r, 2));
      an.getFloatTimeDomainData(d);
      const loud = d.some((x) => Math.abs(x) > 0.2);
      if (loud && quiet >= 100) clicks.push(performance.now() + ((ac.outputLatency || 0) + ac.baseLatency) * 1000);
      quiet = loud ? 0 : quiet + 1;
    }
    return { flashes, clicks };
  });
  const estimate = await page.getByTestId('sound').getAttribute('data-skew-ms');
  const off = clicks
    .map((c) => c - flashes.reduce((best, f) => (Math.abs(f - c) < Math.abs(best - c) ? f : best), Number.POSITIVE_INFINITY))
    .filter((x) => Math.abs(x) < 500)
    .sort((a, b) => a - b);
  if (off.length === 0) {
    const players = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLMediaElement>('video, audio')].map((m) => {
        const ranges = [...Array(m.buffered.length).keys()].map((i) => `${m.buffered.start(i).toFixed(2)}-${m.buffered.end(i).toFixed(2)}`);
        return `${m.tagName} t=${m.currentTime.toFixed(2)} buffered=${ranges.join(',')} ready=${m.readyState} paused=${m.paused} rate=${m.playbackRate} error=${m.error?.message ?? ''}`;
      }),
    );
    const said = readFileSync(join(agentDir, 'agent.log'), 'utf8')
      .split('\n')
      .filter((l) => /WARN|ERROR|live|connected/.test(l))
      .join('\n');
    throw new Error(`no click heard near a flash (${clicks.length} clicks, ${flashes.length} flashes; the page's estimate ${estimate} ms; ${players.join('; ')}); the agent said:\n${said}`);
  }
  const pct = (p: number) => off[Math.round((off.length - 1) * p)]!;
  // The test camera's shared pipeline sometimes restarts its clock when a client joins.
  const jumps = (readFileSync(join(agentDir, 'agent.log'), 'utf8').match(/timing jumped|timestamp discontinuity/g) ?? []).length;
  process.stdout.write(
    `avsync: ${off.length} clicks (${flashes.length} flashes seen): sound minus picture median ${pct(0.5).toFixed(0)} ms, p5 ${pct(0.05).toFixed(0)} ms, p95 ${pct(0.95).toFixed(0)} ms (${off.map((x) => x.toFixed(0)).join(', ')}); the page's own estimate of the gap, after lining up: ${estimate} ms; the camera's timing jumped ${jumps} times\n`,
  );
  await ctx.close();
});
