// The live grid's figures for BENCHMARKS.md (run by `BENCH=grid scripts/bench.sh`, which
// passes the release binary): four cameras at 640×360 (each a real RTSP stream from the
// test RTSP server, main and sub), the grid opened from Home five times:
//   - click to the first decoded frame of all four tiles (the grid's `data-all-ms`, taken
//     from each tile's first `requestVideoFrameCallback`);
//   - the browser's CPU while the four play: every Chromium process this run started
//     (renderer, GPU, network, browser), summed from /proc over 10 s, in percent of one core.
// These are measurements printed as figures, not pass/fail tests.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { AGENT_TOKEN, bin, freePort, launch, ownerWithAgent, repo, scratch, start, startRtsp, startServer, stopAll, waitFor } from './harness';

const CAMERAS = ['front', 'back', 'garden', 'drive'];
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Pids of the Chromium processes below this one (the browser Playwright launched and its children). */
function chromiumPids(): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(d), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(d), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...comm.keys()].filter((pid) => /chrom/i.test(comm.get(pid)!) && below(pid));
}

/** User + system CPU seconds of `pids` so far (those that have exited count as nothing). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

it('measures the live grid', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page: Page = await ctx.newPage();
  const { agentDir, data } = await ownerWithAgent(page, server.url, dir, 'grid@example.org', 'Grid');

  // 640×360, 30 fps, key frames every 2 s: the generated loop (no ../shared/data needed).
  const clip = join(repo, 'testdata/generated/front-sub-loop.mp4');
  const rtsp = await startRtsp(agentDir, clip);
  const http = await freePort();
  const config = join(agentDir, 'agent.toml');
  writeFileSync(
    config,
    `data_dir = ${JSON.stringify(data)}\n[http]\nlisten = "127.0.0.1:${http}"\ntoken = "${AGENT_TOKEN}"\n` +
      CAMERAS.map((c) => `[[cameras]]\nname = "${c}"\nmain = { url = "${rtsp}" }\nsub = { url = "${rtsp}" }\n`).join(''),
  );
  start(bin, ['agent', '--config', config], join(agentDir, 'agent.log'));

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cameras', exact: true }).click();
  const open = page.getByRole('button', { name: 'Watch every camera live' });
  await waitFor('all four cameras online', 90_000, async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Cameras' }).waitFor();
    const recording = await page.locator('.card .state.ok').count();
    return recording === CAMERAS.length && (await open.isVisible());
  });
  // Every camera's sub-stream has run for a key-frame interval (a session starts at one).
  await new Promise((r) => setTimeout(r, 3000));

  const firsts: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 5; i++) {
    await open.click();
    const grid = page.getByTestId('live-grid');
    await waitFor('every tile live', 30_000, async () => (await grid.getAttribute('data-all-ms')) !== '');
    const all = Number(await grid.getAttribute('data-all-ms'));
    const tiles = await page.locator('[data-testid^=tile-]').count();
    if (tiles !== CAMERAS.length) throw new Error(`${tiles} tiles, ${CAMERAS.length} cameras`);
    // CPU while the four play, after the first second.
    await new Promise((r) => setTimeout(r, 1000));
    const pids = chromiumPids();
    const c0 = cpuSeconds(pids);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const used = cpuSeconds(pids) - c0;
    const share = (100 * used) / ((performance.now() - t0) / 1000);
    const live = await page.locator('[data-testid^=tile-][data-state=live]').count();
    process.stdout.write(`grid: run ${i + 1}: all ${tiles} tiles' first frame ${all.toFixed(0)} ms; browser CPU ${share.toFixed(0)}% of a core over 10 s (${pids.length} processes, ${live} tiles still live)\n`);
    firsts.push(all);
    cpu.push(share);
    await page.getByRole('button', { name: 'Close the grid' }).click();
    await grid.waitFor({ state: 'detached' });
    // Let the closed sessions end on the agent before the next opening.
    await new Promise((r) => setTimeout(r, 2000));
  }
  process.stdout.write(
    `grid: 4 cameras at 640×360: first frame of all four median ${median(firsts).toFixed(0)} ms, max ${Math.max(...firsts).toFixed(0)} ms; ` +
      `browser CPU while playing median ${median(cpu).toFixed(0)}% of one core (${cpu.map((x) => x.toFixed(0)).join(', ')})\n`,
  );
  await ctx.close();
});
