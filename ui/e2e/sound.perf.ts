// Live view's sound for BENCHMARKS.md (run by `BENCH=sound scripts/bench.sh`, which passes
// the release binary): how late the camera's sound is heard in the browser. The test camera
// switches its tone between 440 Hz and 880 Hz every second and logs each switch's wall-clock
// time; the page listens to live view's audio element through an analyser (2048-point FFT
// at 48 kHz, polled every 5 ms) and notes when the dominant tone changes. Each change heard
// is paired with the camera's last switch before it. The analyser's window (43 ms) adds up
// to about half of that to each figure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { freePort, launch, ownerWithAgent, repo, scratch, start, startServer, stopAll, waitFor, watchDoorLive } from './harness';

let browser: Browser;
let dir: string;
let server: { url: string; data: string };

beforeAll(async () => {
  dir = scratch();
  server = await startServer(join(dir, 'server'));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  stopAll();
});

it('measures how late the camera’s sound is heard', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const { agentDir, data } = await ownerWithAgent(page, server.url, dir, 'sound@example.org', 'Sound');
  const log = join(agentDir, 'tones.log');
  const port = await freePort();
  const clip = join(repo, 'testdata/generated/front-sub-loop.mp4');
  start('/usr/bin/python3', [join(repo, 'tests/rtsp_server.py'), '--port', String(port), '--mount', `/door=${clip},audio=pcmu,tone_log=${log}`], join(agentDir, 'rtsp.log'));
  await watchDoorLive(page, agentDir, data, `rtsp://127.0.0.1:${port}/door`);
  await page.getByRole('button', { name: 'Sound on' }).click();
  await waitFor('the sound', 30_000, async () => (await page.getByTestId('sound').getAttribute('data-state')) === 'playing');
  const heard = await page.evaluate(async () => {
    const el = document.querySelector<HTMLAudioElement>('[data-testid=live-sound]')!;
    const ac = new AudioContext();
    const an = ac.createAnalyser();
    an.fftSize = 2048;
    an.smoothingTimeConstant = 0;
    ac.createMediaElementSource(el).connect(an);
    an.connect(ac.destination);
    await ac.resume();
    const d = new Float32Array(an.frequencyBinCount);
    const bin = (f: number) => Math.round((f * an.fftSize) / ac.sampleRate);
    const out: { at: number; hz: number }[] = [];
    let last = 0;
    const until = performance.now() + 15_000;
    while (performance.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
      an.getFloatFrequencyData(d);
      const hz = d[bin(440)]! > d[bin(880)]! ? 440 : 880;
      if (Math.max(d[bin(440)]!, d[bin(880)]!) < -60) continue;
      if (hz !== last) {
        if (last !== 0) out.push({ at: performance.timeOrigin + performance.now(), hz });
        last = hz;
      }
    }
    return out;
  });
  const switches = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number) as [number, number]);
  const late: number[] = [];
  for (const h of heard) {
    const made = switches.filter(([t, f]) => t <= h.at && f === h.hz).pop();
    if (made) late.push(h.at - made[0]);
  }
  late.sort((a, b) => a - b);
  const pct = (p: number) => late[Math.round((late.length - 1) * p)]!;
  process.stdout.write(
    `sound: ${late.length} tone changes heard: camera to browser median ${pct(0.5).toFixed(0)} ms, p95 ${pct(0.95).toFixed(0)} ms, max ${late[late.length - 1]!.toFixed(0)} ms (${late.map((x) => x.toFixed(0)).join(', ')})\n`,
  );
  await ctx.close();
});
