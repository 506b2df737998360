// Mouth to the camera's speaker for BENCHMARKS.md (run by `BENCH=mouth scripts/bench.sh`,
// which passes the release binary): the browser's fake microphone speaks a phrase (300 ms
// of 1 kHz) at the start of every second; live view's "Talk" sends it, and the test
// camera's ONVIF backchannel writes what its speaker plays to a file as it arrives. The
// page notes when each phrase reaches the browser (an analyser on a clone of the very
// microphone track the talk session encodes, 256 samples polled every 2 ms); this process
// notes when each phrase's first loud 10 ms lands in the speaker's file (read every 2 ms).
// Each arrival is paired with the last phrase heard before it. Inside: the AudioContext,
// WebCodecs' Opus encoder (20 ms frames), sealing, the POST, the server's relay, the agent
// (decrypt, Opus decode, G.711), RTP to the camera and its depayloading. Not inside: the
// fake device's own capture buffer before the page sees the sound.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { launch, ownerWithAgent, repo, scratch, startRtsp, startServer, stopAll, waitFor, watchDoorLive } from './harness';

let browser: Browser;
let dir: string;
let server: { url: string; data: string };

beforeAll(async () => {
  dir = scratch();
  server = await startServer(join(dir, 'server'));
  const phrases = join(dir, 'phrases.wav');
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    "aevalsrc='if(lt(mod(t\\,1)\\,0.3)\\,0.5*sin(2*PI*1000*t)\\,0)':s=48000:d=30", '-ac', '1', phrases,
  ]);
  if (r.status !== 0) throw new Error(`making the phrases: ${r.stderr}`);
  browser = await launch(phrases);
});

afterAll(async () => {
  await browser?.close();
  stopAll();
});

it('measures mouth to the camera’s speaker', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  // A clone of the microphone track the talk session gets, listened to as it arrives.
  await page.addInitScript(() => {
    const w = window as unknown as { __micOnsets: number[] };
    w.__micOnsets = [];
    const md = navigator.mediaDevices;
    const orig = md.getUserMedia.bind(md);
    md.getUserMedia = async (c?: MediaStreamConstraints) => {
      const s = await orig(c);
      const track = s.getAudioTracks()[0];
      if (track) {
        const ac = new AudioContext();
        const an = ac.createAnalyser();
        an.fftSize = 256;
        ac.createMediaStreamSource(new MediaStream([track.clone()])).connect(an);
        const d = new Float32Array(an.fftSize);
        let quiet = 0;
        setInterval(() => {
          an.getFloatTimeDomainData(d);
          let e = 0;
          for (const x of d) e += x * x;
          const loud = Math.sqrt(e / d.length) > 0.05;
          if (loud && quiet >= 50) w.__micOnsets.push(performance.timeOrigin + performance.now());
          quiet = loud ? 0 : quiet + 1;
        }, 2);
      }
      return s;
    };
  });
  const { agentDir, data } = await ownerWithAgent(page, server.url, dir, 'mouth@example.org', 'Mouth');
  const speaker = join(agentDir, 'speaker.raw');
  const rtsp = await startRtsp(agentDir, join(repo, 'testdata/generated/front-sub-loop.mp4'), speaker);
  await watchDoorLive(page, agentDir, data, rtsp);
  await page.getByRole('button', { name: 'Talk', exact: true }).click();
  const talk = page.getByTestId('talk');
  await waitFor('the camera’s speaker', 30_000, async () => (await talk.getAttribute('data-state')) === 'talking');
  // The speaker's file, read as it grows: onsets of loud 10 ms blocks after 300 ms of quiet.
  await waitFor('the speaker file', 10_000, async () => existsSync(speaker));
  const fd = openSync(speaker, 'r');
  let at = statSync(speaker).size;
  const arrived: number[] = [];
  let quiet = 0;
  let carry = Buffer.alloc(0);
  const until = Date.now() + 25_000;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 2));
    const size = statSync(speaker).size;
    if (size <= at) continue;
    const now = Date.now();
    const b = Buffer.alloc(size - at);
    readSync(fd, b, 0, b.length, at);
    at = size;
    carry = Buffer.concat([carry, b]);
    for (; carry.length >= 160; carry = carry.subarray(160)) {
      let e = 0;
      for (let i = 0; i < 160; i += 2) e += carry.readInt16LE(i) ** 2;
      const loud = Math.sqrt(e / 80) > 2000;
      if (loud && quiet >= 30) arrived.push(now);
      quiet = loud ? 0 : quiet + 1;
    }
  }
  closeSync(fd);
  const spoken = await page.evaluate(() => (window as unknown as { __micOnsets: number[] }).__micOnsets);
  const late: number[] = [];
  for (const a of arrived) {
    const said = spoken.filter((t) => t <= a).pop();
    if (said !== undefined && a - said < 1000) late.push(a - said);
  }
  if (late.length === 0) throw new Error(`no phrase arrived (${spoken.length} spoken, ${arrived.length} arrived)`);
  late.sort((a, b) => a - b);
  const pct = (p: number) => late[Math.round((late.length - 1) * p)]!;
  process.stdout.write(
    `mouth: ${late.length} phrases (${spoken.length} spoken, ${arrived.length} arrived): microphone to the camera's speaker median ${pct(0.5).toFixed(0)} ms, p95 ${pct(0.95).toFixed(0)} ms, max ${late[late.length - 1]!.toFixed(0)} ms (${late.map((x) => x.toFixed(0)).join(', ')})\n`,
  );
  await page.getByRole('button', { name: 'Stop talking' }).click();
  await ctx.close();
});
