// The timeline with 10,000 events (BENCHMARKS.md): how smoothly it scrolls from the newest
// event to the oldest, loading pages of 200 and decrypting each visible row's metadata.
// The events are real sealed objects: this file seals them in Node with the paired agent's
// device key (the format of design/crypto-format.md) and uploads them with the agent's
// token, exactly as an agent would, so the browser verifies and decrypts each one.
// Run by `BENCH=timeline scripts/bench.sh`; a measurement, not a pass/fail test.
import { mkdirSync, readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { Writer, concat, unhex, utf8 } from '../src/crypto/bytes';
import { WRAP_INFO, edPublic, edSign, hpkeSeal, keyId, parseKeyring, parsePublicKeys, streamSeal } from '../src/crypto/format';
import { createAccount, launch, pair, scratch, startServer, stopAll } from './harness';

const EVENTS = Number(process.env.PORCHLIGHT_BENCH_EVENTS ?? 10_000);
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

/** A sealed event-metadata object, as `crypto::object::seal` makes it. */
async function sealMeta(deviceSeed: Uint8Array, recipient: Uint8Array, camera: string, startMs: number, endMs: number, plain: Uint8Array) {
  const key = new Uint8Array(randomBytes(32));
  const prefix = new Uint8Array(randomBytes(7));
  const objectId = new Uint8Array(randomBytes(16));
  const body = await streamSeal(key, prefix, plain);
  const digest = new Uint8Array(createHash('sha256').update(body).digest());
  const { enc, ct } = await hpkeSeal(recipient, WRAP_INFO, concat(objectId, digest), key);
  const rest = new Writer()
    .u8(4)
    .bytes(objectId)
    .bytes(await edPublic(deviceSeed))
    .text(camera)
    .i64(startMs)
    .i64(endMs)
    .i64(plain.length)
    .u8(16)
    .bytes(prefix)
    .bytes(digest)
    .u8(1)
    .bytes(await keyId(recipient))
    .bytes(enc)
    .bytes(ct)
    .done();
  const len = 4 + 1 + 4 + rest.length + 64;
  const signed = concat(utf8('PLOB'), new Writer().u8(1).u32(len).done(), rest);
  return concat(signed, await edSign(deviceSeed, 'porchlight/object/v1', signed), body);
}

it('scrolls a 10,000-event timeline', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await createAccount(page, server.url, 'timeline@example.org', 'a long bench password');
  await page.getByLabel('Name').fill('Bench');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'Cameras' }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('button', { name: 'Pair a new agent' }).click();
  const command = (await page.getByTestId('pair-command').textContent())!;
  const data = join(dir, 'agent', 'data');
  mkdirSync(data, { recursive: true });
  pair(data, server.url, command.match(/--token (\S+)/)![1]!, command.match(/--code (\S+)/)![1]!);
  const token = (JSON.parse(readFileSync(join(data, 'server.json'), 'utf8')) as { token: string }).token;
  const device = parseKeyring(new Uint8Array(readFileSync(join(data, 'device.keys'))));
  const me = await page.evaluate(async () => (await (await fetch('/api/session')).json()) as { households: { household_id: string }[] });
  const hid = me.households[0]!.household_id;
  const members = await page.evaluate(async (h) => (await (await fetch(`/api/households/${h}/members`)).json()) as { public_keys: string | null }[], hid);
  const owner = (await parsePublicKeys(unhex(members[0]!.public_keys!))).encryption;

  // Seed: one event a minute going back, four cameras, a label and a zone each.
  const t0 = performance.now();
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const labels = ['person', 'vehicle', 'animal', 'package'];
  const now = Date.now();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < EVENTS; i = next++) {
      const start = now - (i + 1) * 60_000;
      const camera = `cam${i % 4}`;
      const meta = utf8(JSON.stringify({ camera, kind: 'object', label: labels[i % 4], score: 0.9, zones: [i % 2 ? 'path' : 'drive'], start_ms: start, end_ms: start + 8000 }));
      const sealed = await sealMeta(device.identitySeed, owner, camera, start, start + 8000, meta);
      const hash = createHash('sha256').update(sealed).digest('hex');
      const put = await fetch(`${server.url}/api/chunks/${hash}`, { method: 'PUT', headers: { authorization: auth.authorization }, body: sealed as BodyInit });
      if (!put.ok) throw new Error(`chunk: ${put.status} ${await put.text()}`);
      const o = await fetch(`${server.url}/api/objects`, { method: 'POST', headers: auth, body: JSON.stringify({ chunks: [hash] }) });
      if (!o.ok) throw new Error(`object: ${o.status} ${await o.text()}`);
      const { id } = (await o.json()) as { id: string };
      const e = await fetch(`${server.url}/api/events`, { method: 'POST', headers: auth, body: JSON.stringify({ id: randomBytes(16).toString('hex'), meta_object: id, notify: false }) });
      if (!e.ok) throw new Error(`event: ${e.status} ${await e.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  process.stdout.write(`timeline: seeded ${EVENTS} sealed events in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  await page.goto(`${server.url}/#/timeline`);
  await page.locator('.event-row').first().waitFor();
  // Scroll from the newest event to the oldest at a steady 1,500 px a frame (a fast
  // fling), recording every frame's interval, until the last event's row is reached.
  const r = await page.evaluate(async (total) => {
    const intervals: number[] = [];
    let last = performance.now();
    const t0 = last;
    let maxRows = 0;
    const labelled = () => [...document.querySelectorAll('.event-row')].filter((b) => !/^Event on/.test(b.getAttribute('aria-label') ?? '')).length;
    await new Promise<void>((done) => {
      const step = (now: number) => {
        intervals.push(now - last);
        last = now;
        maxRows = Math.max(maxRows, document.querySelectorAll('.event-row').length);
        const atEnd = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2;
        const count = Number(document.querySelector('[data-testid=event-count]')?.getAttribute('data-count') ?? 0);
        if ((atEnd && count >= total) || now - t0 > 180_000) return done();
        window.scrollBy(0, 1500);
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    // Once scrolling stops, the visible rows' metadata is decrypted.
    await new Promise((res) => setTimeout(res, 1500));
    return { intervals, seconds: (performance.now() - t0) / 1000, maxRows, labelled: labelled(), loaded: Number(document.querySelector('[data-testid=event-count]')?.getAttribute('data-count') ?? 0) };
  }, EVENTS);
  const xs = [...r.intervals].sort((a, b) => a - b);
  const q = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const long = r.intervals.filter((x) => x > 50).length;
  process.stdout.write(
    [
      `timeline: ${r.loaded} events loaded while scrolling top to bottom in ${r.seconds.toFixed(1)} s, ${r.intervals.length} frames`,
      `timeline: frame interval p50 ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${xs[xs.length - 1]!.toFixed(0)} ms; ${long} frames over 50 ms (${((100 * long) / r.intervals.length).toFixed(1)}%)`,
      `timeline: at most ${r.maxRows} rows in the DOM at once; ${r.labelled} rows on screen decrypted at the end`,
    ].join('\n') + '\n',
  );
});
