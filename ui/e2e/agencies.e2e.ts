// Agencies end to end in Debian's Chromium, on a real server and a real agent: an agency
// applies, the operator verifies it by the fingerprint it reads out (published in the
// transparency log with its key); the agency asks for footage of a 300 m circle; a household
// inside the area sees the request and one outside it, in the same home cell, does not (its
// device never even looks for footage); the owner answers anonymously with one clip its own
// agent redacted and sealed; an official alert reaches the area's neighbourhood feeds; the
// agency plays the clip with its own key and exports evidence that
// `porchlight verify-evidence` accepts, and refuses once a byte changes; the public page
// checks the log against its signed head and shows the counts; `verify-log` accepts the log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, createAccount, doorCamera, launch, pair, ringWhileRecording, scratch, shoot, startAgent, startRtsp, startServer, stopAll, waitFor } from './harness';

const PASSWORD = 'correct horse battery staple';
const OPERATOR = 'operator@example.org';
const M = 111_195;

let browser: Browser;
let server: { url: string; data: string };
let dir: string;
const pages: Record<string, { ctx: BrowserContext; page: Page }> = {};

// The inside home is the area's centre; the outside one 330 m east of it, beyond the 300 m
// circle but (checked below) in the same resolution 8 cell, so that the server offers both.
const CENTRE: [number, number] = [52.2053, 0.1218];
const OUTSIDE: [number, number] = [CENTRE[0], CENTRE[1] + 330 / (M * Math.cos((CENTRE[0] * Math.PI) / 180))];

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

async function session(page: Page): Promise<{ households: { household_id: string }[] }> {
  return (await (await page.request.get(`${server.url}/api/session`)).json()) as { households: { household_id: string }[] };
}

async function household(name: string, email: string, home: [number, number]): Promise<Page> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await createAccount(page, server.url, email, PASSWORD);
  await page.getByLabel('Name').fill(`${name}'s house`);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'Cameras' }).waitFor();
  await nav(page, 'Neighbourhood').click();
  await page.getByLabel('Latitude').fill(String(home[0]));
  await page.getByLabel('Longitude').fill(String(home[1]));
  await page.getByRole('button', { name: 'Save home' }).click();
  await page.getByTestId('home-summary').waitFor();
  pages[name] = { ctx, page };
  return page;
}

/** `datetime-local` text for `ms`, in the browser's time zone (the test's). */
function local(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

beforeAll(async () => {
  if (!existsSync('/usr/bin/chromium')) throw new Error('Debian chromium is missing: run make setup');
  dir = scratch();
  server = await startServer(join(dir, 'server'), `operators = ["${OPERATOR}"]\n`);
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  stopAll();
  if (dir && !process.env.PORCHLIGHT_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  else if (dir) console.log(`kept ${dir}`);
});

describe('agencies', () => {
  it('verifies an agency by the fingerprint it reads out, and publishes it', async () => {
    const actx = await browser.newContext();
    const agency = await actx.newPage();
    await createAccount(agency, server.url, 'records@police.example.org', PASSWORD);
    const form = agency.getByRole('form', { name: 'Apply as an agency' });
    await form.getByLabel('Agency', { exact: true }).fill('Cambridge Police');
    await form.getByLabel('Jurisdiction').fill('Cambridge');
    await form.getByLabel('Website (https)').fill('http://police.example.org');
    await form.getByLabel('Public switchboard number').fill('+44 1223 555 0100');
    await form.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => agency.getByRole('alert').textContent()).toMatch(/website: expected an https:\/\/ address/);
    await form.getByLabel('Website (https)').fill('https://police.example.org');
    await form.getByRole('button', { name: 'Apply' }).click();
    const fingerprint = (await agency.getByTestId('agency-fingerprint').textContent())!.trim();
    expect(fingerprint).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$/);
    await shoot(agency, 'agency-applied');
    pages.agency = { ctx: actx, page: agency };

    const octx = await browser.newContext();
    const op = await octx.newPage();
    await createAccount(op, server.url, OPERATOR, PASSWORD);
    await op.getByLabel('Name').fill('Operator');
    await op.getByRole('button', { name: 'Create' }).click();
    await nav(op, 'Agencies').click();
    const item = op.locator('li[data-agency]').filter({ hasText: 'Cambridge Police' });
    await item.getByLabel('Fingerprint they read out').fill('AAAA-BBBB-CCCC-DDDD-EEEE');
    await item.getByLabel('How you checked (published in the log)').fill('Called the switchboard listed on police.example.org');
    await item.getByRole('button', { name: 'Verify and publish' }).click();
    await expect.poll(() => item.getByRole('alert').textContent()).toMatch(/fingerprint: does not match/);
    await item.getByLabel('Fingerprint they read out').fill(fingerprint.toLowerCase());
    await item.getByRole('button', { name: 'Verify and publish' }).click();
    await expect.poll(() => op.locator('li[data-agency]').filter({ hasText: 'Cambridge Police' }).textContent()).toMatch(/verified.*log entry 0/s);
    pages.operator = { ctx: octx, page: op };

    await agency.reload();
    await agency.getByRole('form', { name: 'New footage request' }).waitFor();
  });

  it('offers a request inside its area only, and the owner answers with one redacted clip, anonymously', async () => {
    const inside = await household('inside', 'inside@example.org', CENTRE);
    await household('outside', 'outside@example.org', OUTSIDE);
    // Same cell: the server cannot tell these two homes apart.
    const cells = await Promise.all(
      ['inside', 'outside'].map(async (n) => {
        const hid = (await session(pages[n]!.page)).households[0]!.household_id;
        return ((await (await pages[n]!.page.request.get(`${server.url}/api/households/${hid}/home`)).json()) as { home_cell: string }).home_cell;
      }),
    );
    expect(cells[0]).toBe(cells[1]);

    // The inside household records a doorbell ring.
    await nav(inside, 'Settings').click();
    await inside.getByRole('button', { name: 'Pair a new agent' }).click();
    const command = (await inside.getByTestId('pair-command').textContent())!;
    const agentDir = join(dir, 'agent');
    const data = join(agentDir, 'data');
    mkdirSync(agentDir, { recursive: true });
    pair(data, server.url, command.match(/--token (\S+)/)![1]!, command.match(/--code (\S+)/)![1]!);
    const rtsp = await startRtsp(agentDir, doorCamera());
    const http = await startAgent(agentDir, data, rtsp, 3);
    await ringWhileRecording(data, http, 5, 90_000);
    const hid = (await session(inside)).households[0]!.household_id;
    const event = await waitFor('the event on the server', 90_000, async () => {
      const evs = (await (await inside.request.get(`${server.url}/api/households/${hid}/events`)).json()) as { end_ms: number }[];
      return evs[0];
    });

    // The agency asks about the 20 minutes up to the first whole minute after the ring.
    const until = Math.ceil((event.end_ms + 1) / 60_000) * 60_000;
    await waitFor('the window to end', 70_000, async () => Date.now() > until + 1_000);
    const agency = pages.agency!.page;
    const form = agency.getByRole('form', { name: 'New footage request' });
    await form.getByLabel('Case number').fill('CB-2026-0412');
    await form.getByLabel('Offence').selectOption('burglary');
    await form.getByLabel('What happened (residents see this)').fill('A ground floor flat was broken into; the street may show who left.');
    await form.getByLabel('Investigator and contact').fill('DC Patel, 01223 555 0199');
    await form.getByLabel('Centre latitude').fill(String(CENTRE[0]));
    await form.getByLabel('Centre longitude').fill(String(CENTRE[1]));
    await form.getByLabel('Radius (metres, 144 to 642)').fill('700');
    await form.getByLabel('Footage from').fill(local(until - 20 * 60_000));
    await form.getByLabel('Footage until').fill(local(until));
    await form.getByRole('button', { name: 'Publish request' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/area: expected 0\.025 to 0\.5 square miles/);
    await form.getByLabel('Radius (metres, 144 to 642)').fill('300');
    await form.getByRole('button', { name: 'Publish request' }).click();
    await expect.poll(() => form.getByRole('status').textContent()).toMatch(/published \(log entry 1\); 2 households/);

    // An official alert for the street reaches both households' neighbourhood feeds.
    const alertForm = agency.getByRole('form', { name: 'Post a safety alert' });
    await alertForm.getByLabel('Alert', { exact: true }).fill('Several break-ins on this street this week: lock ground floor windows.');
    await alertForm.getByLabel('Alert centre latitude').fill(String(CENTRE[0]));
    await alertForm.getByLabel('Alert centre longitude').fill(String(CENTRE[1]));
    await alertForm.getByRole('button', { name: 'Post alert' }).click();
    await expect.poll(() => alertForm.getByRole('status').textContent()).toMatch(/Posted/);

    // Outside: the server offers it (same cell), the device drops it on the exact point and
    // never looks for footage.
    const outside = pages.outside!.page;
    const looked: string[] = [];
    outside.on('request', (r) => r.url().includes('/events?') && looked.push(r.url()));
    const outsideHid = (await session(outside)).households[0]!.household_id;
    const offered = (await (await outside.request.get(`${server.url}/api/households/${outsideHid}/footage-requests`)).json()) as unknown[];
    expect(offered.length).toBe(1);
    await nav(outside, 'Requests').click();
    await outside.getByText('No requests for your home.').waitFor();
    expect(looked).toEqual([]);
    await nav(outside, 'Neighbourhood').click();
    const official = outside.getByRole('list', { name: 'Official alerts' });
    await official.getByText('Several break-ins on this street').waitFor();
    expect(await official.textContent()).toMatch(/Official · Cambridge Police/);
    await shoot(outside, 'neighbourhood-official-alert');

    // Inside: shown, answered with the redacted clip, anonymously.
    await nav(inside, 'Requests').click();
    const card = inside.locator('li[data-request]');
    await card.waitFor();
    // What happened, where and when, and the agency's verified number; never the case
    // number or the investigator (design/agencies.md, "What a household sees").
    const shown = (await card.textContent())!;
    expect(shown).toMatch(/Cambridge Police asks about a burglary/);
    expect(shown).toMatch(/the agency's verified number: \+44/);
    expect(shown).not.toMatch(/CB-2026-0412|DC Patel|0199/);
    await card.getByRole('checkbox').first().check();
    expect(await card.getByLabel(/Blur people, faces and text/).isChecked()).toBe(true);
    expect(await card.getByLabel(/Include the sound/).isChecked()).toBe(false);
    const asked = Date.now();
    await card.getByRole('button', { name: 'Preview what would be shared' }).click();
    const preview = card.getByLabel('Preview of door');
    await waitFor('the redacted preview', 120_000, () => preview.isVisible()).catch(async (e: Error) => {
      throw new Error(`${e.message}; the card says: ${await card.textContent()}`);
    });
    console.log(`the agent redacted and sealed the clip in ${Date.now() - asked} ms`);
    expect(await card.textContent()).toMatch(/blurred: people in \d+, faces in \d+, text in \d+ of \d+ frames; no sound/);
    await shoot(inside, 'request-answer');
    await card.getByRole('button', { name: 'Share 1 clip with Cambridge Police' }).click();
    await expect.poll(() => card.getByRole('status').textContent(), { timeout: 30_000 }).toMatch(/Cambridge Police knows you as Resident 1\./);
  });

  it('plays the clip with the agency key and exports evidence that verifies offline', async () => {
    const agency = pages.agency!.page;
    await agency.reload();
    const item = agency.locator('li[data-request]').first();
    await item.getByRole('button', { name: 'Answers' }).click();
    await item.getByText('Resident 1').waitFor();
    expect(await item.textContent()).toMatch(/Resident 1 · anonymous · 1 clip/);
    await item.getByRole('button', { name: 'Play' }).click();
    const video = item.getByLabel('Clip from resident 1');
    await waitFor('the clip to decode', 30_000, () => video.evaluate((v: HTMLVideoElement) => v.readyState >= 2));
    await shoot(agency, 'agency-portal');

    const [download] = await Promise.all([agency.waitForEvent('download'), item.getByRole('button', { name: 'Export evidence' }).click()]);
    const archive = join(dir, 'evidence.tar');
    await download.saveAs(archive);
    const out = join(dir, 'evidence');
    mkdirSync(out);
    expect(spawnSync('tar', ['-xf', archive, '-C', out]).status).toBe(0);
    const head = (await (await fetch(`${server.url}/api/log/head`)).json()) as { log_key: string };
    const verify = () => spawnSync(bin, ['verify-evidence', out, '--log-key', head.log_key], { encoding: 'utf8' });
    const ok = verify();
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/evidence OK: 1 clip\(s\) for request [0-9a-f]{32} by Cambridge Police/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { custody: { action: string }[] };
    expect(manifest.custody.map((c) => c.action)).toEqual(['download', 'download', 'export']);
    // One byte of the clip changed: refused.
    const clip = join(out, 'clips', readdirSync(join(out, 'clips'))[0]!);
    const bytes = readFileSync(clip);
    const at = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
    writeFileSync(clip, bytes);
    const bad = verify();
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/EVIDENCE FAILS/);
  });

  it('shows the public counts, checked against the signed head, and verify-log accepts the log', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${server.url}/#/transparency`);
    await expect.poll(() => page.getByTestId('log-verified').textContent(), { timeout: 10_000 }).toMatch(/Checked in this browser: 3 entries hash to the head/);
    const row = page.getByRole('table', { name: 'Agencies' }).locator('tr[data-agency]');
    const stat = (s: string) => row.locator(`[data-stat=${s}]`).textContent();
    expect([await stat('requests'), await stat('offered'), await stat('answers'), await stat('clips')]).toEqual(['1', '2', '1', '1']);
    // The shared clip is the event's clip with its pre- and post-roll (3 s each), not the
    // instant of the ring.
    expect(Number(await stat('minutes'))).toBeGreaterThanOrEqual(0.1);
    expect(await page.textContent('body')).not.toMatch(/inside@example|CB-2026-0412|DC Patel/);
    await shoot(page, 'transparency');
    const r = spawnSync(bin, ['verify-log', server.url, '--state', join(dir, 'log-state.json'), '--entry', '1'], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 entries/);
  });
});
