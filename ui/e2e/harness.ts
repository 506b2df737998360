// Processes for the end-to-end tests: the server, the RTSP test server and agents, each
// killed at the end; and Chromium (Debian's) through playwright-core.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';

export const repo = resolve(import.meta.dirname, '../..');
export const bin = process.env.PORCHLIGHT_BIN ?? join(repo, 'target/debug/porchlight');
const children: ChildProcess[] = [];

export function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'porchlight-e2e-'));
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

export async function waitFor<T>(what: string, ms: number, f: () => Promise<T | null | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `cmd args`, its output appended to `log`; killed by `stopAll`. */
export function start(cmd: string, args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
  const out = openSync(log, 'a');
  const c = spawn(cmd, args, { stdio: ['ignore', out, out], env: { ...process.env, NO_COLOR: '1', PORCHLIGHT_LOG: 'info', ...env } });
  children.push(c);
  return c;
}

export function stopAll(): void {
  for (const c of children.reverse()) if (c.exitCode === null) c.kill('SIGKILL');
  children.length = 0;
}

/** `porchlight serve` on a free port; the browser reaches it as http://localhost:PORT. */
export async function startServer(dir: string, extraConfig = ''): Promise<{ url: string; data: string; proc: ChildProcess }> {
  const port = await freePort();
  const data = join(dir, 'server-data');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'server.toml');
  writeFileSync(config, `listen = "127.0.0.1:${port}"\ndata_dir = ${JSON.stringify(data)}\nsecure_cookies = false\n${extraConfig}`);
  const proc = start(bin, ['serve', '--config', config], join(dir, 'server.log'));
  const url = `http://localhost:${port}`;
  await waitFor('the server', 30_000, async () => (await fetch(`http://127.0.0.1:${port}/api/health`)).ok);
  return { url, data, proc };
}

/** tests/rtsp_server.py serving `file` at rtsp://127.0.0.1:PORT/cam. */
/**
 * The camera the neighbourhood and agency tests record: the real person clip's sub-stream
 * when ../shared/data was there for `make testdata` (and PORCHLIGHT_HIDE_SHARED_DATA is not
 * set, as `make test`'s second pass sets it), else the generated Baseline test pattern, which
 * the agent's redaction decodes as it does a real sub-stream.
 */
export function doorCamera(): string {
  const person = join(repo, 'testdata/generated/person-sub.mp4');
  if (!process.env.PORCHLIGHT_HIDE_SHARED_DATA && existsSync(person)) return person;
  console.log('NOTE: recording the generated test pattern (../shared/data absent or hidden)');
  return join(repo, 'testdata/generated/front-sub-loop.mp4');
}

/**
 * The test RTSP server replaying `file` as `/cam`; with `speaker`, the camera also has an
 * audio track and an ONVIF backchannel whose sound is appended to that file (raw 16-bit
 * little-endian 8 kHz mono).
 */
export async function startRtsp(dir: string, file: string, speaker?: string): Promise<string> {
  const port = await freePort();
  const mount = speaker ? `/cam=${file},audio=pcmu,backchannel=${speaker}` : `/cam=${file}`;
  start('/usr/bin/python3', [join(repo, 'tests/rtsp_server.py'), '--port', String(port), '--mount', mount], join(dir, 'rtsp.log'));
  await waitFor('the RTSP server', 30_000, async () => {
    const { connect } = await import('node:net');
    return new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => (s.end(), res(true)));
      s.on('error', () => res(false));
    });
  });
  return `rtsp://127.0.0.1:${port}/cam`;
}

export function pair(data: string, server: string, token: string, code: string): void {
  const r = spawnSync(bin, ['pair', '--data-dir', data, '--server', server, '--token', token, '--code', code, '--name', 'porch agent'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`porchlight pair failed: ${r.stdout}${r.stderr}`);
}

export const AGENT_TOKEN = 'a-long-enough-token';

/** Each running agent started by `startAgent`, by its folder. */
export const agents = new Map<string, ChildProcess>();

/** An agent with a doorbell camera `door` recording `rtsp`, syncing with its paired server. */
export async function startAgent(dir: string, data: string, rtsp: string, rollS = 2): Promise<number> {
  const http = await freePort();
  const config = join(dir, 'agent.toml');
  writeFileSync(
    config,
    `data_dir = ${JSON.stringify(data)}\n[http]\nlisten = "127.0.0.1:${http}"\ntoken = "${AGENT_TOKEN}"\n[sync]\nsettle_s = 1\n` +
      `[[cameras]]\nname = "door"\ndoorbell = true\nmain = { url = "${rtsp}" }\nevents = { pre_roll_s = ${rollS}, post_roll_s = ${rollS} }\n`,
  );
  agents.set(dir, start(bin, ['agent', '--config', config], join(dir, 'agent.log')));
  return http;
}

/** Frames the agent with data folder `data` has recorded from `camera` (its status file;
 * throws while there is none, which `waitFor` retries). */
export function framesRecorded(data: string, camera: string): number {
  const s = (JSON.parse(readFileSync(join(data, 'status.json'), 'utf8')) as { streams: { camera: string; frames_recorded: number }[] }).streams;
  return s.find((x) => x.camera === camera)?.frames_recorded ?? 0;
}

/** Rings camera `door`'s doorbell once the agent records more than `minFrames` frames a
 * second (test clips end and the agent reconnects; a press in that gap would have no
 * footage). */
export async function ringWhileRecording(data: string, httpPort: number, minFrames = 15, ms = 60_000): Promise<void> {
  await waitFor('the agent to be recording', ms, async () => {
    const before = framesRecorded(data, 'door');
    await new Promise((r) => setTimeout(r, 1000));
    return framesRecorded(data, 'door') - before > minFrames;
  });
  await ringDoorbell(httpPort);
}

export async function ringDoorbell(httpPort: number): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${httpPort}/api/v1/cameras/door/doorbell`, {
    method: 'POST',
    headers: { authorization: `Bearer ${AGENT_TOKEN}` },
  });
  if (r.status !== 202) throw new Error(`doorbell: ${r.status}`);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret. */
export function totp(secret: string, at = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1]! & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** What the browser's fake microphone says: a 1 kHz tone, 48 kHz mono, looped by Chromium. */
export const MIC_TONE_HZ = 1000;

function micFile(): string {
  const f = join(tmpdir(), `porchlight-mic-${MIC_TONE_HZ}.wav`);
  if (!existsSync(f)) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${MIC_TONE_HZ}:sample_rate=48000:duration=10`, '-ac', '1', f]);
    if (r.status !== 0) throw new Error(`making the fake microphone's sound: ${r.stderr}`);
  }
  return f;
}

/** Chromium for the tests; `mic`: a WAV file the fake microphone plays (looped) instead of the tone. */
export async function launch(mic?: string): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      // A microphone that plays a known tone, allowed without a prompt (talk tests).
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${mic ?? micFile()}`,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/**
 * Creates an account in the app at `url` up to the household step: password, TOTP
 * confirmed, keys made, recovery code acknowledged. Returns the TOTP secret and the code.
 */
export async function createAccount(page: Page, url: string, email: string, password: string): Promise<{ secret: string; recovery: string }> {
  await page.goto(url);
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  const secret = (await page.locator('code.secret').textContent())!.trim();
  await page.getByLabel('Code').fill(totp(secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('button', { name: 'Make my keys' }).click();
  const recovery = (await page.getByTestId('recovery-code').textContent())!.trim();
  await page.getByRole('button', { name: 'I wrote it down' }).click();
  return { secret, recovery };
}

/**
 * A new account with a household named `name`, and an agent paired to it from Settings →
 * "Pair a new agent", as a new owner does (`porchlight pair` with the command the app
 * shows); returns the agent's folder and its data folder (under `dir`).
 */
export async function ownerWithAgent(page: Page, url: string, dir: string, email: string, name: string): Promise<{ agentDir: string; data: string }> {
  await createAccount(page, url, email, 'a long bench password');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'Cameras' }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('button', { name: 'Pair a new agent' }).click();
  const command = (await page.getByTestId('pair-command').textContent())!;
  const agentDir = join(dir, 'agent');
  const data = join(agentDir, 'data');
  mkdirSync(agentDir, { recursive: true });
  pair(data, url, command.match(/--token (\S+)/)![1]!, command.match(/--code (\S+)/)![1]!);
  return { agentDir, data };
}

/** Starts `porchlight agent` for the paired data folder `data` with one camera, `door`, at
 * the RTSP `url`, and opens the camera's live view in `page` once the agent reports it. */
export async function watchDoorLive(page: Page, agentDir: string, data: string, url: string): Promise<void> {
  const config = join(agentDir, 'agent.toml');
  writeFileSync(config, `data_dir = ${JSON.stringify(data)}\n[[cameras]]\nname = "door"\nmain = { url = "${url}" }\n`);
  start(bin, ['agent', '--config', config], join(agentDir, 'agent.log'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cameras', exact: true }).click();
  const watch = page.getByRole('button', { name: 'Watch door live' });
  await waitFor('the live button', 60_000, async () => {
    await page.reload();
    return watch.isEnabled({ timeout: 2000 });
  });
  await watch.click();
}

/** Screenshots of `page` for the docs, at desktop and phone sizes. */
export async function shoot(page: Page, name: string): Promise<void> {
  // The second pass without ../shared/data records a test pattern: the checked-in
  // screenshots stay those of the real footage.
  if (process.env.PORCHLIGHT_HIDE_SHARED_DATA) return;
  const shots = join(repo, 'docs/screenshots');
  mkdirSync(shots, { recursive: true });
  for (const [w, h, tag] of [
    [1280, 800, 'desktop'],
    [360, 740, 'phone'],
  ] as const) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(shots, `${name}-${tag}.png`) });
    // Every screen fits a phone: nothing makes the page scroll sideways.
    const wide = await page.evaluate(() => {
      const all = [...document.querySelectorAll('body *')];
      const worst = all.reduce<Element | null>((a, e) => (!a || e.getBoundingClientRect().right > a.getBoundingClientRect().right ? e : a), null);
      return { w: document.documentElement.scrollWidth, worst: worst ? `${worst.tagName.toLowerCase()}.${worst.className}: ${(worst.textContent ?? '').slice(0, 60)}` : '' };
    });
    if (wide.w > w) throw new Error(`${name} is ${wide.w} px wide at a ${w} px ${tag} viewport (widest: ${wide.worst}): it scrolls sideways`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}
