// The neighbourhood end to end in Debian's Chromium, on a real server: two households a
// hundred metres apart and one 20 km away set their homes in the browser (the exact point
// sealed, only the cell sent); a post made after accepting the rules reaches the near
// household's open feed within a second and never the far one; a post with a clip that the
// poster's own agent redacted (people, faces and text blurred where the footage is), which
// the poster previews byte for byte and the near neighbour plays; comments under aliases;
// the contact relay, anonymous until the poster shares details; a report, hidden by the
// operator with a reason its author sees; and the offline map.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cellToLatLng, latLngToCell } from 'h3-js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import {
  createAccount,
  doorCamera,
  freePort,
  launch,
  pair,
  repo,
  ringWhileRecording,
  scratch,
  shoot,
  startAgent,
  startRtsp,
  startServer,
  stopAll,
  waitFor,
} from './harness';

const PASSWORD = 'correct horse battery staple';
const OPERATOR = 'operator@example.org';

let browser: Browser;
let server: { url: string; data: string };
let dir: string;
const people: Record<string, { ctx: BrowserContext; page: Page }> = {};

// The poster lives at the centre of a resolution 8 cell, the near neighbour 100 m from it
// (the same cell, so the cell holds the 2 households this server's K asks for), the far
// one 20 km east.
const centre = cellToLatLng(latLngToCell(52.2053, 0.1218, 8));
const HOMES: Record<string, [number, number]> = {
  poster: centre as [number, number],
  near: [centre[0] + 0.0009, centre[1]],
  far: [centre[0], centre[1] + 0.293],
};

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

async function person(name: string, email: string): Promise<Page> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await createAccount(page, server.url, email, PASSWORD);
  await page.getByLabel('Name').fill(`${name}'s house`);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'Cameras' }).waitFor();
  people[name] = { ctx, page };
  return page;
}

async function setHome(page: Page, [lat, lon]: [number, number]): Promise<void> {
  await nav(page, 'Neighbourhood').click();
  await page.getByLabel('Latitude').fill('91');
  await page.getByLabel('Longitude').fill(String(lon));
  await page.getByRole('button', { name: 'Save home' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Latitude: expected a number from -90 to 90/);
  await page.getByLabel('Latitude').fill(String(lat));
  await page.getByRole('button', { name: 'Save home' }).click();
  await page.getByTestId('home-summary').waitFor();
}

const posts = (page: Page) => page.getByRole('list', { name: 'Posts' }).locator('li[data-post]');

beforeAll(async () => {
  if (!existsSync('/usr/bin/chromium')) throw new Error('Debian chromium is missing: run make setup');
  dir = scratch();
  server = await startServer(join(dir, 'server'), `min_crowd = 2\noperators = ["${OPERATOR}"]\n`);
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  stopAll();
  if (dir && !process.env.PORCHLIGHT_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  else if (dir) console.log(`kept ${dir}`);
});

describe('the neighbourhood', () => {
  it('keeps the home point in the browser and shows an area, never a point', async () => {
    for (const name of ['poster', 'near', 'far']) {
      const page = await person(name, `${name}@example.org`);
      await setHome(page, HOMES[name]!);
    }
    const poster = people.poster!.page;
    // Alone when it set its home, the poster could not post; now its cell holds two.
    await poster.reload();
    // The summary reads the sealed point back (only this account can open it) and the area
    // holds the two households of the cell.
    await expect.poll(() => poster.getByTestId('home-summary').textContent()).toMatch(/seen only by you/);
    await expect.poll(() => poster.getByTestId('home-summary').textContent()).toMatch(/holding 2 households/);
    // What the server stored: the cell, and a point it cannot read.
    const hid = ((await (await poster.request.get(`${server.url}/api/session`)).json()) as { households: { household_id: string }[] })
      .households[0]!.household_id;
    const home = (await (await poster.request.get(`${server.url}/api/households/${hid}/home`)).json()) as { home_cell: string; sealed_point: string };
    expect(home.home_cell).toBe(latLngToCell(HOMES.poster![0], HOMES.poster![1], 8));
    const lat = new DataView(new Float64Array([HOMES.poster![0]]).buffer);
    const latHex = [...new Uint8Array(lat.buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(home.sealed_point).not.toContain(latHex);
    expect(home.sealed_point.startsWith('504c4850')).toBe(true);
  });

  it('pushes a post to the near neighbour within a second, never to the far one', async () => {
    const { poster, near, far } = { poster: people.poster!.page, near: people.near!.page, far: people.far!.page };
    await expect.poll(() => near.getByText('No posts within 2 km yet.').isVisible()).toBe(true);
    await far.getByLabel('Radius').selectOption('8000');
    await expect.poll(() => far.getByText('No posts within 8 km yet.').isVisible()).toBe(true);

    await poster.getByLabel('Category').selectOption('crime');
    await poster.getByLabel('What happened?').fill('A white van tried the car doors on our street at 2 am.');
    await poster.getByRole('button', { name: 'Post to the neighbourhood' }).click();
    // The rules come before the first post.
    const rules = poster.getByRole('dialog', { name: 'Before your first post' });
    await rules.waitFor();
    await expect.poll(() => rules.textContent()).toMatch(/Posting rules/);
    await shoot(poster, 'neighbourhood-rules');
    const sent = Date.now();
    await rules.getByRole('button', { name: 'I accept the rules' }).click();
    await posts(poster).first().waitFor();
    await posts(near).first().waitFor({ timeout: 1_000 });
    // Exactly one post, however the rules were accepted.
    await near.waitForTimeout(300);
    expect(await posts(near).count()).toBe(1);
    console.log(`the post appeared in the near neighbour's feed ${Date.now() - sent} ms after the click`);
    expect(await posts(near).first().textContent()).toMatch(/white van/);
    expect(await posts(near).first().textContent()).toMatch(/From an area of about 0\.\d km²/);
    await far.waitForTimeout(1_500);
    expect(await posts(far).count()).toBe(0);
    await far.reload();
    await far.getByLabel('Radius').selectOption('8000');
    await expect.poll(() => far.getByText('No posts within 8 km yet.').isVisible()).toBe(true);
    await shoot(near, 'neighbourhood');
  });

  it('posts a clip its agent redacted, previewed as posted, and the near neighbour plays it', async () => {
    const { poster, near, far } = { poster: people.poster!.page, near: people.near!.page, far: people.far!.page };
    // The poster's household pairs an agent recording a camera (the real person clip when
    // ../shared/data is there, else the generated one) and rings its doorbell: an event.
    await nav(poster, 'Settings').click();
    await poster.getByRole('button', { name: 'Pair a new agent' }).click();
    const command = (await poster.getByTestId('pair-command').textContent())!;
    const agentDir = join(dir, 'agent');
    const data = join(agentDir, 'data');
    mkdirSync(agentDir, { recursive: true });
    pair(data, server.url, command.match(/--token (\S+)/)![1]!, command.match(/--code (\S+)/)![1]!);
    const rtsp = await startRtsp(agentDir, doorCamera());
    const http = await startAgent(agentDir, data, rtsp, 3);
    // The person clip has 10 frames a second.
    await ringWhileRecording(data, http, 5, 90_000);
    const hid = ((await (await poster.request.get(`${server.url}/api/session`)).json()) as { households: { household_id: string }[] })
      .households[0]!.household_id;
    await waitFor('the event on the server', 90_000, async () => {
      const evs = (await (await poster.request.get(`${server.url}/api/households/${hid}/events`)).json()) as unknown[];
      return evs.length > 0;
    });

    // The clip is prepared on the agent and arrives sealed for this browser; the preview
    // says what was blurred and is exactly what will be posted.
    await nav(poster, 'Neighbourhood').click();
    const form = poster.getByRole('form', { name: 'New post' });
    await form.getByRole('button', { name: 'Attach a clip from your events' }).click();
    // The sound is left out unless the poster keeps it.
    expect(await form.getByLabel(/Keep the sound/).isChecked()).toBe(false);
    const asked = Date.now();
    await form.getByRole('button', { name: 'Prepare this clip' }).first().click();
    const preview = form.getByLabel('Preview of the clip to post');
    await waitFor('the prepared clip', 120_000, () => preview.isVisible()).catch(async (e: Error) => {
      throw new Error(`${e.message}; the form says: ${await form.textContent()}`);
    });
    console.log(`the agent prepared the clip in ${Date.now() - asked} ms`);
    const note = (await form.getByRole('note').textContent())!;
    expect(note).toMatch(/Blurred by your camera hub: people \(\d+ of \d+ frames\), faces \(\d+\), text and plates \(\d+\)/);
    // This camera records no sound: the preview says so (and the clip has none).
    expect(note).toMatch(/; no sound\./);
    await waitFor('the preview to decode', 30_000, () => preview.evaluate((v: HTMLVideoElement) => v.readyState >= 2));
    const previewed = (await form.getByTitle('SHA-256 of exactly what will be posted').textContent())!.match(/SHA-256 ([0-9a-f]{16})/)![1]!;
    await preview.scrollIntoViewIfNeeded();
    await shoot(poster, 'neighbourhood-clip-preview');

    // A photo too, from a phone: its EXIF (with a GPS position) must not reach the server.
    const jpg = join(dir, 'photo.jpg');
    const made = spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', join(repo, 'testdata/generated/front.mp4'), '-frames:v', '1', jpg]);
    expect(made.status, String(made.stderr)).toBe(0);
    const raw = readFileSync(jpg);
    const exif = Buffer.concat([Buffer.from('Exif\0\0GPS 52.2054N 0.1281E'), Buffer.alloc(64)]);
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, (exif.length + 2) >> 8, (exif.length + 2) & 0xff]), exif]);
    const withGps = Buffer.concat([raw.subarray(0, 2), app1, raw.subarray(2)]);
    await form.locator('input[type=file]').setInputFiles({ name: 'door.jpg', mimeType: 'image/jpeg', buffer: withGps });
    await form.getByRole('img', { name: 'Photo to post' }).waitFor();

    await form.getByLabel('Category').selectOption('unusual_activity');
    await form.getByLabel('What happened?').fill('Someone tried our door handle at dusk; clip attached.');
    await form.getByRole('button', { name: 'Post to the neighbourhood' }).click();
    const mine = posts(poster).filter({ hasText: 'door handle' });
    await mine.waitFor({ timeout: 30_000 }).catch(async (e: Error) => {
      throw new Error(`${e.message}; the form says: ${await form.textContent()}`);
    });
    const posted = Date.now();
    const card = posts(near).filter({ hasText: 'door handle' });
    await card.waitFor({ timeout: 1_000 });
    console.log(`the post with its clip appeared in the near neighbour's feed ${Date.now() - posted} ms after it was posted`);
    const video = card.getByLabel('Posted clip');
    await waitFor('the posted clip to decode', 30_000, () => video.evaluate((v: HTMLVideoElement) => v.readyState >= 2));
    // The server serves what was previewed.
    const nearHid = ((await (await near.request.get(`${server.url}/api/session`)).json()) as { households: { household_id: string }[] })
      .households[0]!.household_id;
    const media = (await (await near.request.get(`${server.url}/api/households/${nearHid}/feed?radius_m=2000`)).json()) as unknown;
    expect(JSON.stringify(media)).toContain(previewed);
    const photo = card.getByRole('img', { name: 'Posted photo' });
    await waitFor('the posted photo', 30_000, () => photo.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0));
    const served = await (await near.request.get(`${server.url}${(await photo.getAttribute('src'))!}`)).body();
    expect(served.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect(served.includes('Exif') || served.includes('GPS')).toBe(false);
    await far.waitForTimeout(1_500);
    expect(await posts(far).filter({ hasText: 'door handle' }).count()).toBe(0);
    await video.scrollIntoViewIfNeeded();
    await shoot(near, 'neighbourhood-clip');

    // Deleting the post removes the clip.
    const src = (await video.getAttribute('src'))!;
    poster.once('dialog', (d) => void d.accept());
    await mine.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => mine.count()).toBe(0);
    expect((await near.request.get(`${server.url}${src}`)).status()).toBe(404);
    // The near neighbour's open feed drops it without a reload.
    await expect.poll(() => card.count(), { timeout: 2_000 }).toBe(0);
  });

  it('comments under aliases and relays a message without revealing anyone', async () => {
    const { poster, near } = { poster: people.poster!.page, near: people.near!.page };
    const card = posts(near).first();
    await card.getByRole('button', { name: /Comments/ }).click();
    await card.getByRole('textbox', { name: 'Comment' }).fill('Same here on Mill Road.');
    await card.getByRole('button', { name: 'Comment', exact: true }).click();
    await card.getByRole('list', { name: 'Comments' }).getByText('Neighbour 1').waitFor();

    await card.getByRole('button', { name: 'Contact the poster' }).click();
    await card.getByLabel(/Message to the poster/).fill('My camera caught the van; happy to help.');
    await card.getByRole('button', { name: 'Send message' }).click();
    await card.getByText('Sent. Replies appear under Messages.').waitFor();

    await poster.reload();
    const mine = posts(poster).first();
    await mine.getByRole('button', { name: /Comments \(1\)/ }).click();
    await mine.getByRole('list', { name: 'Comments' }).getByText('Same here on Mill Road.').waitFor();
    await poster.getByRole('button', { name: /A neighbour wrote about your Crime post/ }).click();
    const conv = poster.getByLabel('Conversation');
    await conv.getByText('My camera caught the van').waitFor();
    expect(await conv.textContent()).not.toMatch(/near@example\.org/);
    await conv.getByLabel('Reply').fill('Thank you! Could you call me?');
    await conv.getByLabel(/Share contact details/).fill('Sam, 01234 567890');
    await conv.getByRole('button', { name: 'Send reply' }).click();
    await conv.getByText('Shared contact details: Sam, 01234 567890').waitFor();

    await near.reload();
    await near.getByRole('button', { name: /You wrote about a Crime post/ }).click();
    await near.getByLabel('Conversation').getByText('Shared contact details: Sam, 01234 567890').waitFor();
    await near.getByLabel('Conversation').scrollIntoViewIfNeeded();
    await shoot(near, 'neighbourhood-relay');
  });

  it('hides a reported post with a reason that its author sees', async () => {
    const { poster, near } = { poster: people.poster!.page, near: people.near!.page };
    const card = posts(near).first();
    await card.getByRole('button', { name: 'Report' }).click();
    await card.getByLabel('What is wrong with this post?').fill('It guesses who the driver is.');
    await card.getByRole('button', { name: 'Send report' }).click();
    await card.getByText('Reported. The operator will review it.').waitFor();

    const op = await person('operator', OPERATOR);
    await nav(op, 'Moderation').click();
    const reported = op.getByRole('list', { name: 'Reported posts' }).locator('li[data-post]').first();
    await reported.getByText('It guesses who the driver is.').waitFor();
    await shoot(op, 'moderation');
    await reported.getByRole('button', { name: 'Hide post' }).click();
    await expect.poll(() => op.getByRole('alert').textContent()).toMatch(/reason: hiding a post needs a reason/);
    await reported.getByLabel(/Reason for hiding/).fill('Rule 2: describe what happened, not who someone looks like.');
    await reported.getByRole('button', { name: 'Hide post' }).click();
    await op.getByText('No reported posts.').waitFor();

    await near.reload();
    await expect.poll(() => near.getByText('No posts within 2 km yet.').isVisible()).toBe(true);
    await poster.reload();
    await posts(poster).first().getByText(/Hidden by the operator: Rule 2/).waitFor();
    // Nobody but residents has a neighbourhood, and only operators moderate.
    expect(await nav(near, 'Moderation').count()).toBe(0);
  });

  it('draws the feed on a map without any tile server', async () => {
    const near = people.near!.page;
    const poster = people.poster!.page;
    await poster.getByLabel('What happened?').fill('Found: a grey cat with a blue collar.');
    await poster.getByLabel('Category').selectOption('found_pet');
    await poster.getByRole('button', { name: 'Post to the neighbourhood' }).click();
    await posts(near).first().waitFor({ timeout: 2_000 });
    await near.getByRole('tab', { name: 'Map' }).click();
    const map = near.getByRole('img', { name: /Map of 1 post within 2 km/ });
    await map.waitFor();
    const area = map.getByRole('button', { name: /Found pet: Found: a grey cat/ });
    await area.waitFor();
    await map.scrollIntoViewIfNeeded();
    await shoot(near, 'neighbourhood-map');
    await area.click();
    await near.locator('li.post.focus').getByText('grey cat').waitFor();
    // Everything the page loaded came from the server itself.
    const hosts = await near.evaluate(() => [...new Set(performance.getEntriesByType('resource').map((e) => new URL(e.name).host))]);
    expect(hosts).toEqual([new URL(server.url).host]);
    await waitFor('the feed', 1_000, async () => (await posts(near).count()) === 1);
  });
});

describe('with a tile server configured', () => {
  it('draws tiles from that one origin under the areas', async () => {
    // A tile server on loopback: a 1x1 PNG for every tile, and a record of what was asked.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    const asked: string[] = [];
    const tiles = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
    const port = await freePort();
    await new Promise<void>((r) => tiles.listen(port, '127.0.0.1', r));
    try {
      const other = await startServer(join(dir, 'tiled'), `map_tile_url = "http://127.0.0.1:${port}/{z}/{x}/{y}.png"\n`);
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await createAccount(page, other.url, 'tiles@example.org', PASSWORD);
      await page.getByLabel('Name').fill('Tiled house');
      await page.getByRole('button', { name: 'Create' }).click();
      await page.getByRole('heading', { name: 'Cameras' }).waitFor();
      await setHome(page, HOMES.poster!);
      await page.getByRole('tab', { name: 'Map' }).click();
      await page.getByText(`Map tiles from 127.0.0.1:${port}`).waitFor();
      await waitFor('tile requests', 10_000, async () => asked.length >= 4);
      // Tiles at a zoom that shows a town (2 km radius: zoom 13 or 14) around the home.
      const [z, x, y] = asked[0]!.match(/^\/(\d+)\/(\d+)\/(\d+)\.png$/)!.slice(1).map(Number);
      expect(z).toBeGreaterThanOrEqual(12);
      const n = 2 ** z!;
      const lon = (x! / n) * 360 - 180;
      const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * y!) / n))) * 180) / Math.PI;
      expect(Math.abs(lon - HOMES.poster![1])).toBeLessThan(0.2);
      expect(Math.abs(lat - HOMES.poster![0])).toBeLessThan(0.2);
      expect(await page.locator('svg image').count()).toBeGreaterThanOrEqual(4);
      await ctx.close();
    } finally {
      tiles.close();
    }
  });
});
