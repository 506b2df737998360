// The web app end to end: a real server, a real agent recording from the RTSP test server,
// Debian's Chromium. Signs up (keys made in the browser), pairs the agent from the
// settings screen, sees a doorbell event arrive live, plays its clip (the video advances
// and a decoded frame is not blank), restores the keys in a second browser with the
// recovery code, adds a passkey through Chromium's virtual authenticator and signs in
// with it, and checks the bad-input paths (wrong password, altered clip, expired session).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agents,
  bin,
  createAccount,
  framesRecorded,
  launch,
  pair,
  repo,
  ringWhileRecording as ringWhileRecordingIn,
  scratch,
  shoot,
  MIC_TONE_HZ,
  startAgent,
  startRtsp,
  startServer,
  stopAll,
  totp,
  waitFor,
} from './harness';

const EMAIL = 'owner@example.org';
const PASSWORD = 'correct horse battery staple';

let browser: Browser;
/** The owner's browser: its localStorage holds the keys made at sign-up. */
let owner: BrowserContext;
let server: { url: string; data: string };
let dir: string;
let totpSecret = '';
let agentData = '';
let agentHttp = 0;
let agentRtsp = '';
let recoveryCode = '';

/** The video element's playback position and whether its current frame has any detail. */
async function frameState(page: Page): Promise<{ t: number; spread: number }> {
  return page.evaluate(() => {
    const v = document.querySelector('video')!;
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 36;
    const g = c.getContext('2d')!;
    g.drawImage(v, 0, 0, 64, 36);
    const d = g.getImageData(0, 0, 64, 36).data;
    let min = 255;
    let max = 0;
    for (let i = 0; i < d.length; i += 4) {
      const y = (d[i]! + d[i + 1]! + d[i + 2]!) / 3;
      min = Math.min(min, y);
      max = Math.max(max, y);
    }
    return { t: v.currentTime, spread: max - min };
  });
}

/** A link of the app's main navigation. */
const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

let lastStep = 0;
/** A TOTP code from a 30 s step not used before (the server accepts each step once). */
async function freshCode(): Promise<string> {
  while (Math.floor(Date.now() / 30_000) <= lastStep) await new Promise((r) => setTimeout(r, 500));
  lastStep = Math.floor(Date.now() / 30_000);
  return totp(totpSecret);
}

/** Waits for the player to say the clip verified; on a timeout, says what it showed instead. */
async function verified(page: Page, what: string): Promise<void> {
  await waitFor(what, 30_000, () => page.getByTestId('clip-verified').isVisible()).catch(async (e: Error) => {
    throw new Error(`${e.message}; the player says: ${await page.locator('dialog').textContent()}`);
  });
}

/** Frames the agent has recorded from `camera` (its status file). */
function framesOf(camera: string): number {
  return framesRecorded(agentData, camera);
}

/** The household the page's session belongs to. */
async function householdId(page: Page): Promise<string> {
  const s = (await (await page.request.get(`${server.url}/api/session`)).json()) as { households: { household_id: string }[] };
  return s.households[0]!.household_id;
}

/** Rings the doorbell while the agent is recording (the test clip ends every 20 s). */
async function ringWhileRecording(): Promise<void> {
  await ringWhileRecordingIn(agentData, agentHttp);
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(server.url);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Continue' }).click();
}

beforeAll(async () => {
  if (!existsSync('/usr/bin/chromium')) throw new Error('Debian chromium is missing: run make setup');
  dir = scratch();
  server = await startServer(join(dir, 'server'));
  browser = await launch();
  // The owner allowed notifications; every system notification the app shows is recorded.
  owner = await browser.newContext({ permissions: ['notifications'] });
  await owner.addInitScript(() => {
    const Real = window.Notification;
    const seen: { title: string; body: string | undefined }[] = [];
    (window as unknown as { __notes: typeof seen }).__notes = seen;
    class Recorded extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        seen.push({ title, body: options?.body });
      }
    }
    window.Notification = Recorded;
  });
});

afterAll(async () => {
  await browser?.close();
  stopAll();
  if (dir && !process.env.PORCHLIGHT_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  else if (dir) console.log(`kept ${dir}`);
});

describe('the owner', () => {
  it('signs up: password, TOTP, keys made in the browser, a household', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    await shoot(page, 'sign-in');
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/password/i);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    totpSecret = (await page.locator('code.secret').textContent())!.trim();
    await page.getByLabel('Code').fill(await freshCode());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('button', { name: 'Make my keys' }).click();
    recoveryCode = (await page.getByTestId('recovery-code').textContent())!.trim();
    expect(recoveryCode).toMatch(/^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
    await page.getByRole('button', { name: 'I wrote it down' }).click();
    await page.getByLabel('Name').fill('Our house');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Cameras' }).isVisible()).toBe(true);
    // The private keys stayed in the browser: the server has a backup it cannot open.
    const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('porchlight.keys.')).length);
    expect(stored).toBe(1);
    await page.close();
  });

  it('pairs an agent, sees a doorbell event arrive live and plays its clip', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    await nav(page, 'Settings').click();
    await page.getByRole('button', { name: 'Pair a new agent' }).click();
    const command = (await page.getByTestId('pair-command').textContent())!;
    const token = command.match(/--token (\S+)/)![1]!;
    const code = command.match(/--code (\S+)/)![1]!;
    const agentDir = join(dir, 'agent');
    const data = join(agentDir, 'data');
    mkdirSync(agentDir, { recursive: true });
    pair(data, server.url, token, code);
    // The door camera has a speaker (an ONVIF backchannel; what it plays goes to a file).
    const rtsp = await startRtsp(agentDir, join(repo, 'testdata/generated/front-loop.mp4'), join(agentDir, 'speaker.raw'));
    const http = await startAgent(agentDir, data, rtsp);
    agentData = data;
    agentHttp = http;
    agentRtsp = rtsp;
    await shoot(page, 'settings');

    // The home screen shows the camera recording once the agent reports.
    await nav(page, 'Cameras').click();
    // The home screen refreshes itself every 10 s; agents report every 15 s.
    await page.getByText(/Recording since/).waitFor({ timeout: 90_000 });
    await ringWhileRecording();
    const rang = Date.now();
    const note = page.getByTestId('notification');
    // The press's start is sent at once, before its clip's post-roll is recorded: the
    // toast announces it as going on now, and a system notification names the camera.
    await waitFor('the event notification', 30_000, () => note.first().isVisible());
    expect(await note.first().textContent()).toMatch(/on door · now/);
    const notes = await waitFor('the system notification', 10_000, async () => {
      const n = await page.evaluate(() => (window as unknown as { __notes: { title: string; body?: string }[] }).__notes);
      return n.length > 0 ? n : null;
    });
    expect(notes[0]!.title).toBe('Doorbell: door');
    expect(notes[0]!.body).toMatch(/^Someone rang at /);
    console.log(`doorbell press to notification: ${Date.now() - rang} ms`);
    // The card has a picture: the camera now, from its agent (or, until that arrives, the
    // press's snapshot, taken even without motion analysis).
    await page.getByRole('img', { name: /^(door now|Latest snapshot from door)$/ }).first().waitFor({ timeout: 10_000 });
    await shoot(page, 'home');

    await nav(page, 'Timeline').click();
    const row = page.getByRole('button', { name: /on door at .*: play/ }).first();
    await waitFor('the event in the timeline', 30_000, () => row.isVisible());
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toMatch(/doorbell/i);
    await shoot(page, 'timeline');
    await row.click();
    await verified(page, 'the clip to verify');
    const first = await waitFor('the video to advance', 30_000, async () => {
      const s = await frameState(page);
      return s.t > 0.5 ? s : null;
    });
    expect(first.spread, 'a decoded frame is not blank').toBeGreaterThan(20);
    await shoot(page, 'player');
    expect(await page.getByTestId('clip-verified').textContent()).toMatch(/Signed by porch agent/);
    await page.close();
  });

  it('shows a pushed alert from its service worker, with no page of the app open', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Cameras' }).waitFor({ timeout: 30_000 });
    await waitFor('the service worker', 30_000, () =>
      page.evaluate(async () => Boolean((await navigator.serviceWorker.getRegistration('/'))?.active)),
    );
    // The app's own attempt to subscribe (headless Chromium has no push service) is over.
    await waitFor('the push subscription attempt', 60_000, () => page.evaluate(() => document.documentElement.dataset.push));
    // What the server would push for the doorbell event (the browser decrypts a real push
    // before the worker sees it; the server's encryption is tested in api/tests/push.rs).
    const s = (await (await page.request.get(`${server.url}/api/session`)).json()) as { households: { household_id: string }[] };
    const hid = s.households[0]!.household_id;
    const [e] = (await (await page.request.get(`${server.url}/api/households/${hid}/events?order=desc&limit=1`)).json()) as {
      id: string;
      camera: string;
      start_ms: number;
      meta_object: string;
      snapshot_object: string | null;
    }[];
    const message = {
      household_id: hid,
      event_id: e!.id,
      camera: e!.camera,
      start_ms: e!.start_ms,
      in_progress: false,
      meta_object: e!.meta_object,
      snapshot_object: e!.snapshot_object,
    };
    // What the worker says, shown if no notification comes.
    const said: string[] = [];
    for (const w of owner.serviceWorkers()) w.on('console', (m) => said.push(m.text()));
    owner.on('serviceworker', (w) => w.on('console', (m) => said.push(m.text())));
    const cdp = await owner.newCDPSession(page);
    const registrations: { registrationId: string; scopeURL: string }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (u: { registrations: { registrationId: string; scopeURL: string }[] }) => {
      registrations.push(...u.registrations);
    });
    await cdp.send('ServiceWorker.enable');
    const reg = await waitFor('the registration', 10_000, async () => registrations.find((r) => r.scopeURL === `${server.url}/`));
    // The app's page goes away: only the worker is left to alert.
    await page.goto(`${server.url}/api/health`);
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: server.url,
      registrationId: reg.registrationId,
      data: JSON.stringify(message),
    });
    const shown = await waitFor('the notification', 30_000, async () => {
      const n = await page.evaluate(async () =>
        (await (await navigator.serviceWorker.getRegistration('/'))!.getNotifications()).map((x) => ({
          title: x.title,
          body: x.body,
          tag: x.tag,
          image: (x as Notification & { image?: string }).image ?? '',
          actions: ((x as Notification & { actions?: { action: string }[] }).actions ?? []).map((a) => a.action),
          titles: ((x as Notification & { actions?: { title: string }[] }).actions ?? []).map((a) => a.title),
        })),
      );
      return n.length > 0 ? n : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; the worker said: ${said.join(' | ') || 'nothing'}`);
    });
    // It says what was seen (from the sealed metadata, opened in the worker) and where.
    expect(shown[0]!.title).toBe('Doorbell press at door');
    expect(shown[0]!.tag).toBe(e!.id);
    expect(shown[0]!.image).toMatch(/^data:image\/jpeg;base64,\/9j\//);
    expect(shown[0]!.actions).toEqual(['live', 'clip']);
    // Headless Chromium has no notification centre to photograph: the README's picture
    // draws the notification the worker posted (its title, text, snapshot and actions, as
    // read back above) the way a phone's notification shade lays one out.
    const n = shown[0]!;
    const esc = (t: string) => t.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    await page.goto('about:blank'); // away from the app's origin and its content security policy
    await page.setContent(
      `<!doctype html><meta name="viewport" content="width=device-width"><title>Notification</title>
      <body style="margin:0;min-height:100vh;background:linear-gradient(#23303f,#0f161e);font:15px system-ui,sans-serif;color:#111;display:flex;justify-content:center;align-items:flex-start">
      <section aria-label="A push notification" style="box-sizing:border-box;margin:24px 12px;width:min(420px,calc(100% - 24px));background:#f4f6f8;border-radius:18px;padding:14px;box-shadow:0 6px 24px #0008">
        <header style="display:flex;align-items:center;gap:8px;font-size:12px;color:#555"><img src="data:image/png;base64,${readFileSync(join(repo, 'ui/public/icon-192.png')).toString('base64')}" width="18" height="18" alt="">Porchlight · now</header>
        <h2 style="font-size:16px;margin:8px 0 2px">${esc(n.title)}</h2>
        <p style="margin:0 0 10px;color:#333">${esc(n.body)}</p>
        <img src="${n.image}" alt="The snapshot" style="width:100%;border-radius:10px;display:block">
        <nav style="display:flex;gap:18px;margin-top:10px;font-weight:600;color:#1a5fb4">${n.titles.map((t) => `<span>${esc(t)}</span>`).join('')}</nav>
      </section>`,
    );
    await shoot(page, 'push-notification');
    await page.close();
  });

  it('draws a zone and a privacy mask on a snapshot, sets the modes, and the agent obeys them', async () => {
    const page = await owner.newPage();
    await page.goto(`${server.url}/#/settings`);
    const form = page.getByRole('form', { name: 'Settings of door' });
    await waitFor('the camera settings', 30_000, () => form.isVisible());
    // Its sound is not recorded (the default), and the screen says why.
    await expect.poll(() => form.getByTestId('sound-door').textContent(), { timeout: 15_000 }).toMatch(
      /Sound: not recorded\. Recording sound is off unless you turn it on, because recording conversations/,
    );
    await form.getByLabel('Name shown in the app').fill('Front door');
    const cam = page.getByRole('form', { name: 'Settings of Front door' });
    // Doorbell presses carry no snapshot (the agent takes one only with motion analysis,
    // which this agent does not run), so the outline is drawn on the empty frame.
    await waitFor('the drawing area', 30_000, () => cam.getByTestId('draw-door').isVisible());
    const area = cam.getByTestId('draw-door');
    const box = (await area.boundingBox())!;
    // Too few points: refused, nothing kept.
    await area.click({ position: { x: box.width * 0.1, y: box.height * 0.5 } });
    await cam.getByLabel('Zone name').fill('path');
    await cam.getByRole('button', { name: 'Keep as zone' }).click();
    await expect.poll(() => cam.getByRole('alert').textContent()).toMatch(/at least 3 points/);
    // The path: the lower half of the picture.
    for (const [x, y] of [
      [0.5, 0.95],
      [0.95, 0.95],
      [0.95, 0.5],
    ]) {
      await area.click({ position: { x: box.width * x!, y: box.height * y! } });
    }
    await cam.getByRole('button', { name: 'Keep as zone' }).click();
    await expect.poll(() => cam.getByText(/Zone path \(4 points\)/).isVisible()).toBe(true);
    // A privacy mask over the top-left corner, typed rather than drawn.
    await cam.getByLabel(/Outline being drawn/).fill('0,0 0.3,0 0,0.3');
    await cam.getByRole('button', { name: 'Keep as privacy mask' }).click();
    await expect.poll(() => cam.getByText(/Privacy mask 1 \(3 points\)/).isVisible()).toBe(true);
    await cam.getByLabel('Record when Disarmed').uncheck();
    await cam.getByLabel('Notify when Home').uncheck();
    await cam.getByRole('button', { name: 'Save Front door' }).click();
    await expect.poll(() => page.getByText(/Saved \(version 1\)/).isVisible(), { timeout: 15_000 }).toBe(true);
    await shoot(page, 'camera-settings');
    // The agent verified the owner's signature, opened and kept them (it writes the file
    // only then); the server's copy is ciphertext.
    await waitFor('the agent to accept the settings', 30_000, async () => existsSync(join(agentData, 'settings.plcf')));
    const stored = (await (await page.request.get(`${server.url}/api/households/${await householdId(page)}/settings`)).json()) as { settings: string };
    const bytes = Buffer.from(stored.settings, 'hex');
    expect(bytes.length).toBeGreaterThan(200);
    expect(bytes.includes('Front door') || bytes.includes('"zones"')).toBe(false);

    // Disarmed: the card says so and the agent stops recording this camera.
    await nav(page, 'Cameras').click();
    await page.getByRole('group', { name: 'Household mode' }).getByRole('button', { name: 'Disarmed' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Disarmed', pressed: true }).isVisible(), { timeout: 15_000 }).toBe(true);
    // Confirmed only once the agent reports the new settings (it reports as it applies them).
    await expect.poll(() => page.getByTestId('mode-switch').getAttribute('data-state'), { timeout: 15_000 }).toBe('confirmed');
    await expect.poll(() => page.getByTestId('mode-switch').textContent()).toBe('Disarmed is on: the cameras obey it.');
    await expect.poll(() => page.getByText('Connected, not recording').isVisible(), { timeout: 15_000 }).toBe(true);
    // A doorbell's presses ring in every mode.
    await expect.poll(() => page.getByTestId('effect-door').textContent()).toBe('Only doorbell presses in Disarmed');
    await expect.poll(() => page.getByText('Front door', { exact: true }).isVisible()).toBe(true);
    await waitFor('the agent to stop recording', 30_000, async () => {
      const before = framesOf('door');
      await new Promise((r) => setTimeout(r, 2500));
      return framesOf('door') === before;
    });
    // Away again records (and notifies), for the tests that follow.
    await page.getByRole('button', { name: 'Away' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Away', pressed: true }).isVisible(), { timeout: 15_000 }).toBe(true);
    await expect.poll(() => page.getByTestId('effect-door').textContent(), { timeout: 15_000 }).toBe('Recording and notifying in Away');
    await ringWhileRecording();
    await page.close();
  });

  it('watches a camera live, decrypted in the browser', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    const button = page.getByRole('button', { name: 'Watch Front door live' });
    await waitFor('the live button', 60_000, () => button.isEnabled());
    await button.click();
    await waitFor('live video', 30_000, () => page.getByTestId('live-on').isVisible()).catch(async (e: Error) => {
      throw new Error(`${e.message}; the dialog says: ${await page.locator('dialog').textContent()}`);
    });
    const first = await waitFor('the live video to advance', 30_000, async () => {
      const s = await frameState(page);
      return s.t > 1 ? s : null;
    });
    await shoot(page, 'live');
    const info = await page.evaluate(() => {
      const v = document.querySelectorAll('video');
      const l = v[v.length - 1]!;
      const b = [...Array(l.buffered.length).keys()].map((i) => [l.buffered.start(i), l.buffered.end(i)]);
      return { n: v.length, w: l.videoWidth, h: l.videoHeight, t: l.currentTime, rs: l.readyState, err: l.error?.message ?? null, b, paused: l.paused };
    });
    // The element has a decoded frame at its position (not only a clock moved by seeking).
    expect(info.rs, `the live video has a current frame (${JSON.stringify(info)})`).toBeGreaterThanOrEqual(2);
    expect(first.spread, `a live frame is not blank (${JSON.stringify(info)})`).toBeGreaterThan(20);
    // The agent restarts (killed, started again): the session that played ends, and the app
    // asks for a new one by itself; the picture plays again without "Try again".
    const log = join(dir, 'agent', 'agent.log');
    const started = () => (readFileSync(log, 'utf8').match(/live view started/g) ?? []).length;
    const before = started();
    const src = () => page.evaluate(() => document.querySelector<HTMLVideoElement>('dialog video')!.src);
    const oldSrc = await src();
    // The new agent takes the data folder's lock only once the old one has died.
    const old = agents.get(join(dir, 'agent'))!;
    const gone = old.exitCode === null ? new Promise((r) => old.once('exit', r)) : Promise.resolve();
    old.kill('SIGKILL');
    await gone;
    agentHttp = await startAgent(join(dir, 'agent'), agentData, agentRtsp);
    await waitFor('a new live session, asked for by the app', 60_000, async () => started() > before);
    await waitFor('the new session to play', 30_000, async () => (await src()) !== oldSrc && (await frameState(page)).t > 1);
    expect(await page.locator('dialog [role=alert]').count(), (await page.locator('dialog').textContent()) ?? '').toBe(0);
    // Closing the dialog ends the session; the agent says so.
    await page.getByRole('button', { name: 'Close' }).click();
    await waitFor('the agent to end the session', 30_000, async () => /live view ended/.test(readFileSync(join(dir, 'agent', 'agent.log'), 'utf8')));
    await page.close();
  });

  it('hears the door: live view’s sound, Opus sealed for the browser, carries the camera’s tones', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    const button = page.getByRole('button', { name: 'Watch Front door live' });
    await waitFor('the live button', 60_000, () => button.isEnabled());
    await button.click();
    await page.getByRole('button', { name: 'Sound on' }).click();
    const sound = page.getByTestId('sound');
    await waitFor('the camera’s sound', 30_000, async () => (await sound.getAttribute('data-state')) === 'playing').catch(async (e: Error) => {
      throw new Error(`${e.message}; it says: ${await sound.textContent()}`);
    });
    // What the audio element plays, through an analyser: the test camera alternates 440 Hz
    // and 880 Hz every second.
    const peaks = await page.evaluate(async () => {
      const el = document.querySelector<HTMLAudioElement>('[data-testid=live-sound]')!;
      const ctx = new AudioContext();
      const an = ctx.createAnalyser();
      an.fftSize = 8192;
      ctx.createMediaElementSource(el).connect(an);
      an.connect(ctx.destination);
      await ctx.resume();
      const out: number[] = [];
      const d = new Float32Array(an.frequencyBinCount);
      let loudest = -Infinity;
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 100));
        an.getFloatFrequencyData(d);
        let best = 1;
        for (let k = 1; k < d.length; k++) if (d[k]! > d[best]!) best = k;
        loudest = Math.max(loudest, d[best]!);
        if (d[best]! > -70) out.push((best * ctx.sampleRate) / an.fftSize);
      }
      const b = el.buffered.length ? `${el.buffered.start(0).toFixed(2)}-${el.buffered.end(el.buffered.length - 1).toFixed(2)}` : 'none';
      const state = `context ${ctx.state}, element at ${el.currentTime.toFixed(2)} s, paused ${el.paused}, buffered ${b}, error ${el.error?.message ?? 'none'}, loudest ${loudest.toFixed(0)} dB`;
      return { out, state };
    });
    const near = (f: number) => peaks.out.filter((p) => Math.abs(p - f) < f * 0.06).length;
    const said = `peaks ${peaks.out.map((p) => p.toFixed(0)).join(', ')}; ${peaks.state}`;
    expect(near(440), said).toBeGreaterThan(3);
    expect(near(880), said).toBeGreaterThan(3);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.close();
  });

  it('talks through the door: the microphone reaches the camera’s speaker, sealed for the agent', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    const button = page.getByRole('button', { name: 'Watch Front door live' });
    await waitFor('the live button', 60_000, () => button.isEnabled());
    await button.click();
    const talk = page.getByTestId('talk');
    const speaker = join(dir, 'agent', 'speaker.raw');
    const before = existsSync(speaker) ? statSync(speaker).size : 0;
    // Every packet the browser posts, as the server receives it (framed, sealed).
    const sizes: number[] = [];
    page.on('request', (r) => {
      const body = r.method() === 'POST' && /\/api\/talk\/[0-9a-f]{32}$/.test(r.url()) ? r.postDataBuffer() : null;
      for (let at = 0; body && at + 4 <= body.length; at += 4 + body.readUInt32BE(at)) sizes.push(body.readUInt32BE(at));
    });
    const said = () =>
      readFileSync(join(dir, 'agent', 'agent.log'), 'utf8')
        .split('\n')
        .filter((l) => /talk|backchannel/i.test(l))
        .slice(-8)
        .join('\n');
    const ended = () => (readFileSync(join(dir, 'agent', 'agent.log'), 'utf8').match(/talk session ended/g) ?? []).length;
    const talkFor3s = async (shot: boolean) => {
      const at = existsSync(speaker) ? statSync(speaker).size : 0;
      const sessions = ended();
      await page.getByRole('button', { name: 'Talk', exact: true }).click();
      await waitFor('the camera’s speaker', 30_000, async () => (await talk.getAttribute('data-state')) === 'talking').catch(async (e: Error) => {
        throw new Error(`${e.message}; it says: ${await talk.textContent()}`);
      });
      await page.waitForTimeout(3000);
      if (shot) await shoot(page, 'talk');
      await page.getByRole('button', { name: 'Stop talking' }).click();
      await waitFor('the agent to end the session', 15_000, async () => ended() > sessions);
      return readFileSync(speaker).subarray(at).length;
    };
    // The test camera (gst-rtsp-server's ONVIF backchannel) now and then writes nothing of
    // a whole session that the agent played in full (its log says every packet went out):
    // a race in the test camera, seen three times in about fifteen runs. Once, and said so,
    // the member talks again.
    if ((await talkFor3s(true)) === 0 && /talk session ended .*packets=[1-9]/.test(said())) {
      console.log(`the test camera wrote nothing of a session the agent played; talking again. The agent said:\n${said()}`);
      sizes.length = 0;
      await talkFor3s(false);
    }
    const bytes = Uint8Array.from(readFileSync(speaker).subarray(before));
    const heard = new Int16Array(bytes.buffer, 0, Math.floor(bytes.length / 2));
    // At least two of the three seconds arrived, and they are the microphone's tone.
    expect(heard.length, `samples the camera played (${sizes.length} packets posted); the agent said:\n${said()}`).toBeGreaterThan(2 * 8000);
    const tone = (f: number) => {
      const w = (2 * Math.PI * f) / 8000;
      let [s1, s2] = [0, 0];
      for (const x of heard) [s1, s2] = [x + 2 * Math.cos(w) * s1 - s2, s1];
      return (s1 * s1 + s2 * s2 - 2 * Math.cos(w) * s1 * s2) / heard.length;
    };
    expect(tone(MIC_TONE_HZ), `${MIC_TONE_HZ} Hz against 440 Hz`).toBeGreaterThan(20 * tone(440));
    // Constant bit rate: every sealed packet the relay saw has the same size (the first may
    // differ), so their sizes do not follow what was said.
    expect(sizes.length, 'packets posted').toBeGreaterThan(100);
    expect(new Set(sizes.slice(1)).size, `packet sizes ${[...new Set(sizes)].join(', ')}`).toBe(1);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.close();
  });

  it('scrubs the day: the bar shows what was recorded, and a moment plays from the recording', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    await page.getByRole('link', { name: 'Front door: the whole day' }).click();
    const bar = page.getByTestId('daybar');
    await waitFor('the recorded runs', 30_000, async () => Number(await bar.getAttribute('data-runs')) > 0).catch(async (e: Error) => {
      const log = readFileSync(join(dir, 'agent', 'agent.log'), 'utf8').split('\n').filter((l) => /history|session|refusing/.test(l));
      throw new Error(`${e.message}; the page says ${await page.getByTestId('day-summary').textContent()}; the agent says:\n${log.slice(-10).join('\n')}`);
    });
    await expect.poll(() => page.getByTestId('day-summary').textContent()).toMatch(/^Recorded \d+ min in \d+ stretch/);
    // The doorbell press of the earlier test is on the day's list: play from 2 s before it.
    const ev = page.getByRole('list', { name: 'Events of the day' }).getByRole('button').first();
    await waitFor('the day\'s events', 30_000, () => ev.isVisible());
    await ev.click();
    const status = page.getByTestId('day-status');
    await waitFor('the first frame', 30_000, async () => (await status.getAttribute('data-first-frame-ms')) !== '').catch(async (e: Error) => {
      throw new Error(`${e.message}; the page says: ${await status.textContent()}`);
    });
    const first = Number(await status.getAttribute('data-first-frame-ms'));
    const state = await waitFor('the recording to advance', 30_000, async () => {
      const s = await frameState(page);
      return s.t > 0.5 ? s : null;
    });
    expect(state.spread, 'a frame of the recording, not blank').toBeGreaterThan(20);
    await expect.poll(() => status.textContent()).toMatch(/^Front door at \d\d:\d\d:\d\d/);
    console.log(`day view: moment clicked → first frame ${first} ms`);
    // Zoomed to two hours around the moment, the recording is wide enough to aim at.
    const narrow = await bar.locator('.run').first().evaluate((e) => e.getBoundingClientRect().width);
    await page.getByRole('button', { name: 'Zoom to two hours' }).click();
    const wide = await bar.locator('.run').first().evaluate((e) => e.getBoundingClientRect().width);
    expect(wide, 'a run is wider zoomed in').toBeGreaterThan(narrow * 5);
    await shoot(page, 'day-view');
    await page.close();
  });

  it('shows each camera as it is now, and every camera live at once', async () => {
    const page = await owner.newPage();
    await page.goto(server.url);
    // The card's picture comes from the agent (the camera now, masks black), not the last event.
    await waitFor('the camera\'s picture now', 30_000, () => page.getByTestId('still-door').isVisible()).catch((e: Error) => {
      const log = readFileSync(join(dir, 'agent', 'agent.log'), 'utf8').split('\n').filter((l) => /still|session|refusing/.test(l));
      throw new Error(`${e.message}; the agent says:\n${log.slice(-10).join('\n')}`);
    });
    const ok = await page.getByTestId('still-door').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0);
    expect(ok, 'the still decodes').toBe(true);
    await page.getByRole('button', { name: 'Watch every camera live' }).click();
    const grid = page.getByTestId('live-grid');
    await waitFor('every tile live', 30_000, async () => (await grid.getAttribute('data-all-ms')) !== '');
    console.log(`live grid: first frame of every tile ${await grid.getAttribute('data-all-ms')} ms`);
    await expect.poll(() => page.getByTestId('tile-door').getAttribute('data-state')).toBe('live');
    await shoot(page, 'grid');
    await page.getByRole('button', { name: 'Close the grid' }).click();
    await page.close();
  });

  it('invites a limited member, who sees only footage from the invitation on and no settings', async () => {
    const op = await owner.newPage();
    await op.goto(server.url);
    await nav(op, 'Settings').click();
    await op.getByLabel('Role').selectOption('limited');
    await op.getByRole('button', { name: 'Invite' }).click();
    const invitation = (await op.getByTestId('invitation').textContent())!.trim();

    const mctx = await browser.newContext();
    const mp = await mctx.newPage();
    await createAccount(mp, server.url, 'member@example.org', 'another long password');
    await mp.getByLabel('Invitation code').fill(invitation);
    await mp.getByRole('button', { name: 'Join' }).click();
    await waitFor('the member\'s home screen', 30_000, () => mp.getByRole('heading', { name: 'Cameras' }).isVisible());
    // The doorbell event from before the invitation is not theirs to see.
    await nav(mp, 'Timeline').click();
    await waitFor('the empty timeline', 30_000, () => mp.getByText('No events yet.').isVisible());

    // The owner's app signs the new member into the roster; the agent takes it.
    await op.reload();
    await waitFor('the roster', 30_000, async () => (await op.getByTestId('roster').textContent())?.includes('no. 2'));
    expect(await op.getByText(/member@example.org/).textContent()).toMatch(/key [0-9A-Z]{4}-/);
    await waitFor('the agent to accept the roster', 60_000, async () => {
      const r = spawnSync(bin, ['trust', 'show', '--data-dir', agentData], { encoding: 'utf8' });
      return r.stdout.includes('"member@example.org"');
    });
    await ringWhileRecording();
    await waitFor('the member\'s notification', 90_000, () => mp.getByTestId('notification').first().isVisible());
    await nav(mp, 'Timeline').click();
    const row = mp.getByRole('button', { name: /on door at .*: play/ }).first();
    await waitFor('the event in the member\'s timeline', 30_000, () => row.isVisible());
    expect(await mp.getByRole('button', { name: /on door at .*: play/ }).count()).toBe(1);
    await row.click();
    await waitFor('the member\'s clip to verify', 30_000, () => mp.getByTestId('clip-verified').isVisible());
    await mp.getByRole('button', { name: 'Close' }).click();
    await nav(mp, 'Settings').click();
    await waitFor('the member\'s settings', 30_000, () => mp.getByRole('heading', { name: 'Account' }).isVisible());
    for (const hidden of ['Members', 'Agents', 'Who opened what']) {
      expect(await mp.getByRole('heading', { name: hidden }).count(), hidden).toBe(0);
    }
    // What the server's permissions for a limited member leave out of the app entirely.
    const perms = ((await (await mp.request.get(`${server.url}/api/session`)).json()) as { households: { permissions: string[] }[] }).households[0]!.permissions;
    expect(perms).toEqual(['view']);
    for (const link of ['Neighbourhood', 'Requests']) {
      expect(await nav(mp, link).count(), link).toBe(0);
    }
    // The owner sees that the member opened it.
    await op.reload();
    await waitFor('the access log entry', 30_000, () => op.getByRole('cell', { name: 'member@example.org' }).first().isVisible());
    await mctx.close();
    await op.close();
  });

  it('restores the keys on a new browser with the recovery code and opens footage', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await signIn(page, EMAIL, PASSWORD);
    await page.getByLabel('Code from your authenticator app').fill(await freshCode());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Recovery code').fill('0000-0000-0000-0000-0000-0000-0000-0000');
    await page.getByRole('button', { name: 'Restore keys' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/wrong recovery code/);
    await page.getByLabel('Recovery code').fill(recoveryCode.toLowerCase());
    await page.getByRole('button', { name: 'Restore keys' }).click();
    await nav(page, 'Timeline').click();
    const row = page.getByRole('button', { name: /on Front door at .*: play/ }).first();
    await waitFor('the event', 30_000, () => row.isVisible());
    await row.click();
    await verified(page, 'the clip to verify');
    await ctx.close();
  });

  it('says so when the server fails, and finishes a clip whose connection dropped half-way', async () => {
    const page = await owner.newPage();
    const failing = '**/api/households/*/events?*';
    await page.route(failing, (r) =>
      r.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal', message: 'boom' }) }),
    );
    await page.goto(server.url);
    await nav(page, 'Timeline').click();
    await waitFor('the error message', 30_000, async () => /server failed \(500\)/.test((await page.getByRole('alert').first().textContent()) ?? ''));
    await page.unroute(failing);
    // The first download of the clip is cut off half-way (the declared length is not met).
    let cut = 0;
    const resumed: string[] = [];
    await page.route('**/api/objects/*', async (r) => {
      const range = r.request().headers()['range'];
      const resp = await r.fetch();
      if (range) resumed.push(`${range} ${resp.status()} ${resp.headers()['content-range']}`);
      const body = await resp.body();
      if (body.length > 200_000 && cut === 0) {
        cut++;
        await r.fulfill({ status: 200, headers: { ...resp.headers(), 'content-length': String(body.length) }, body: body.subarray(0, body.length >> 1) });
      } else {
        await r.fulfill({ response: resp, body });
      }
    });
    await page.reload();
    await nav(page, 'Timeline').click();
    const row = page.getByRole('button', { name: /on Front door at .*: play/ }).last();
    await waitFor('the event', 30_000, () => row.isVisible());
    await row.click();
    await verified(page, 'the clip to verify after the drop');
    expect(cut).toBe(1);
    // The retry asked for the rest only, and got it.
    expect(resumed.some((x) => /^bytes=[1-9]\d*- 206 bytes [1-9]\d*-\d+\/\d+$/.test(x)), resumed.join('; ')).toBe(true);
    await page.close();
  });

  it('refuses a clip whose bytes were altered on the server, and says so', async () => {
    // Flip one byte in the middle of every stored chunk file of the biggest object (the clip).
    const blobs: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (!p.endsWith('.db') && !p.includes('.db-') && statSync(p).size > 100_000) blobs.push(p);
      }
    };
    walk(server.data);
    expect(blobs.length).toBeGreaterThan(0);
    for (const b of blobs) {
      const bytes = readFileSync(b);
      bytes[bytes.length >> 1]! ^= 0xff;
      writeFileSync(b, bytes);
    }
    const page = await owner.newPage();
    await page.goto(server.url);
    await nav(page, 'Timeline').click();
    await page.getByRole('button', { name: /on Front door at .*: play/ }).first().click();
    await waitFor('the refusal', 30_000, () => page.getByTestId('clip-error').isVisible());
    expect(await page.getByTestId('clip-error').textContent()).toMatch(/failed verification|could not be played/);
    expect(await page.getByTestId('clip-verified').count()).toBe(0);
    await page.close();
  });

  it('adds a passkey and signs in with it (Chromium virtual authenticator)', async () => {
    const page = await owner.newPage();
    const cdp = await owner.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await page.goto(server.url);
    await nav(page, 'Settings').click();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await waitFor('the passkey', 30_000, () => page.getByText('Passkey added.').isVisible());
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill('wrong password, long enough');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/password/i);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await waitFor('the home screen', 30_000, async () => {
      const alert = page.getByRole('alert');
      if (await alert.isVisible()) throw new Error(`passkey sign-in: ${await alert.textContent()}`);
      return page.getByRole('heading', { name: 'Cameras' }).isVisible();
    }).catch(async (e) => {
      throw new Error(`${(e as Error).message}; the page says: ${await page.locator('main').textContent()}`);
    });
    // An expired session (here: removed) sends the app back to sign-in with a message.
    await owner.clearCookies();
    await nav(page, 'Timeline').click();
    await waitFor('the sign-in screen', 30_000, () => page.getByText('Your session ended. Sign in again.').isVisible());
    await page.close();
  });
});
