// The status dashboard (src/status/dashboard) in a real browser: Debian's
// chromium, headless, at a desktop and a phone viewport, reading ?html through
// a real nginx from tsfpm with real php-cgi children. Known traffic, a
// long-running request and a queued one must show; the page must refresh by
// itself, and say so when the master is gone. Screenshots go to test-output/
// on every run; TSFPM_UPDATE_SCREENSHOTS=1 also copies the desktop and phone
// ones to docs/ (docs/status.md shows them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { DESKTOP, PHONE, launchChromium, screenshotPath } from '../helpers/browser.js';
import { REPO_ROOT, startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { httpRequest, type HttpResponse } from '../helpers/http.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';

const docroot = makeTempDir('tsfpm-dashboard-');
mkdirSync(join(docroot, 'flags'));
writeFileSync(join(docroot, 'hello.php'), '<?php echo "hello";');
// Holds its child until the test drops flags/<id> (30 s at most).
writeFileSync(join(docroot, 'hold.php'), `<?php
$f = __DIR__ . '/flags/' . basename((string)($_GET['id'] ?? ''));
$t = microtime(true);
while (!file_exists($f) && microtime(true) - $t < 30) usleep(20000);
echo 'held';`);

const CHILDREN = 2;
const conf = `[global]
error_log = {dir}/error.log
[www]
listen = {dir}/www.sock
pm = static
pm.max_children = ${CHILDREN}
pm.status_path = /status
pm.status_listen = {dir}/status.sock
[api]
listen = {dir}/api.sock
pm = ondemand
pm.max_children = 2
pm.status_path = /api-status
`;

// /status on the pool's own socket (a child is shown serving the page, as in
// php-fpm); /fpm-status on pm.status_listen, which answers while every child is busy.
const statusLocation = (loc: string, pass: string, script = '/status'): string => `
    location = ${loc} {
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param SCRIPT_NAME ${script};
      fastcgi_param SCRIPT_FILENAME $document_root${script};
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_pass ${pass};
    }`;

let d: Tsfpm;
let nginx: Nginx;
let desktop: BrowserContext;
let phone: BrowserContext;
const pending: Array<Promise<HttpResponse>> = [];
const uniq = `${process.pid}-${Date.now()}`;

before(async () => {
  d = await startTsfpm({ conf });
  nginx = await startNginx({
    upstream: `unix:${join(d.dir, 'www.sock')}`, docroot,
    extraServer: statusLocation('/status', 'tsfpm') + statusLocation('/fpm-status', `unix:${join(d.dir, 'status.sock')}`) +
      statusLocation('/api-status', `unix:${join(d.dir, 'api.sock')}`, '/api-status'),
  });
  // The shared php-cgi parent's workers have told their pids.
  await waitFor(async () => statusJson().then((j) => j.processes.length === CHILDREN), 10_000);
  [desktop, phone] = await Promise.all([launchChromium(DESKTOP), launchChromium(PHONE)]);
});

after(async () => {
  await Promise.allSettled([desktop?.close(), phone?.close()]);
  release('a');
  release('b');
  await Promise.allSettled(pending);
  await nginx?.stop();
  await d?.stop();
});

interface Proc { pid: number; state: string; 'request uri': string }
interface StatusJson { 'accepted conn': number; 'listen queue': number; processes: Proc[] }

async function statusJson(): Promise<StatusJson> {
  return JSON.parse((await httpRequest(nginx.url('/fpm-status?json&full'))).body) as StatusJson;
}

const hold = (id: string): void => { pending.push(httpRequest(nginx.url(`/hold.php?id=${id}-${uniq}`), { timeoutMs: 40_000 })); };
const release = (id: string): void => writeFileSync(join(docroot, 'flags', `${id}-${uniq}`), '');

/** Opens the dashboard as a browser does (its Accept names text/html); fails on any page error or CSP report. */
async function open(ctx: BrowserContext, path: string): Promise<Page> {
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/502|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  const r = await page.goto(nginx.url(path));
  assert.equal(r?.status(), 200);
  assert.match(r?.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
  await page.waitForSelector('html[data-ready="1"]', { timeout: 10_000 });
  (page as Page & { problems?: string[] }).problems = problems;
  return page;
}

const problemsOf = (p: Page): string[] => (p as Page & { problems?: string[] }).problems ?? [];
const text = (p: Page, sel: string): Promise<string> => p.locator(sel).first().innerText();
const card = (p: Page, label: string): string => `.card:has(.label:text-is("${label}"))`;

/** Every run to test-output/; `docs`: also the copy docs/status.md shows, when TSFPM_UPDATE_SCREENSHOTS=1. */
async function shoot(p: Page, name: string, docs: boolean): Promise<void> {
  const file = screenshotPath(name);
  await p.screenshot({ path: file, fullPage: true });
  if (docs && process.env.TSFPM_UPDATE_SCREENSHOTS === '1') copyFileSync(file, join(REPO_ROOT, 'docs', name));
}

let dPage: Page;
let pPage: Page;

test('desktop: the pool, its children, this page\'s own request marked; refreshes by itself after traffic', async () => {
  // Another pool's page on the same site, named in the fragment, shows below (ondemand: the
  // status request made it fork its one child, as php-fpm's does; that child is marked too).
  dPage = await open(desktop, '/status?html#pools=/api-status');
  const api = dPage.locator('section.pool').nth(1);
  await waitFor(async () => (await api.locator('.pool-head .name').innerText()) === 'api', 5000);
  assert.equal(await api.locator('.pool-head .badge').innerText(), 'ondemand');
  assert.equal(await api.locator('table.procs tbody tr.self').count(), 1);
  assert.equal(await api.locator('.card .value').nth(1).innerText(), '0 / 1');
  assert.equal(await text(dPage, '.pool-head .name'), 'www');
  assert.equal(await text(dPage, '.pool-head .badge'), 'static');
  assert.equal(await dPage.locator('section.pool').first().locator('table.procs tbody tr').count(), CHILDREN);
  // The child php-fpm would have used for the status request is shown serving it, marked as such.
  assert.equal(await dPage.locator('tr.self .tag').first().innerText(), 'this status request');
  assert.match(await text(dPage, `${card(dPage, 'Busy children')} .value`), new RegExp(`^0 / ${CHILDREN}$`));
  assert.match(await text(dPage, '#live-text'), /^live · updated \d\d:\d\d:\d\d/);

  const acc = async (): Promise<number> => Number((await text(dPage, `${card(dPage, 'Requests / s')} .sub`)).replace(/\D/g, ''));
  const before = await acc();
  for (let i = 0; i < 8; i++) assert.equal((await httpRequest(nginx.url('/hello.php'))).body, 'hello');
  // No reload: the page's own polling brings the new count.
  await waitFor(async () => (await acc()) >= before + 8, 8000);
  await waitFor(async () => Number(await text(dPage, `${card(dPage, 'Requests / s')} .value`)) > 0, 8000);
  // The rate chart has a line.
  assert.equal(await dPage.locator('section.pool').first().locator('.chart path.s-rate').count(), 1);
  assert.deepEqual(problemsOf(dPage), []);
});

test('a long-running request: its child Running with the request URI, duration growing', async () => {
  hold('a');
  const row = dPage.locator('table.procs tbody tr.running', { hasText: `/hold.php?id=a-${uniq}` });
  await row.waitFor({ timeout: 8000 });
  assert.equal(await row.locator('.state').innerText(), 'Running');
  assert.equal(await row.locator('td[data-label="Method"]').innerText(), 'GET');
  assert.match(await row.locator('td[data-label="Script"]').innerText(), /hold\.php$/);
  // Past a second the duration is flagged as long, and it keeps counting.
  await waitFor(async () => (await row.locator('.long').count()) === 1, 8000);
  const d1 = await row.locator('td[data-label="Duration"]').innerText();
  await waitFor(async () => (await row.locator('td[data-label="Duration"]').innerText()) !== d1, 8000);
  assert.match(await text(dPage, `${card(dPage, 'Busy children')} .value`), new RegExp(`^1 / ${CHILDREN}$`));
  await waitFor(async () => (await dPage.locator('section.pool').first().locator('.chart path.s-busy').count()) === 1, 4000);
  await shoot(dPage, 'dashboard.png', true);
  assert.deepEqual(problemsOf(dPage), []);
});

test('phone: every child busy and a request queued, read on pm.status_listen', async () => {
  // The desktop page polls the pool's own socket, where its requests would now queue too.
  await dPage.goto('about:blank');
  hold('b');
  await waitFor(async () => (await statusJson()).processes.filter((p) => p.state === 'Running').length === CHILDREN, 8000);
  pending.push(httpRequest(nginx.url('/hello.php'), { timeoutMs: 40_000 }));
  await waitFor(async () => (await statusJson())['listen queue'] === 1, 8000);

  pPage = await open(phone, '/fpm-status?html');
  // A phone layout: nothing wider than the screen, the children as cards.
  const overflow = await pPage.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone`);
  assert.equal(await pPage.locator('table.procs thead').isVisible(), false);
  assert.equal(await text(pPage, `${card(pPage, 'Listen queue')} .value`), '1');
  assert.match(await text(pPage, `${card(pPage, 'Listen queue')} .sub`), /^max [1-9]\d* · len \d+/);
  assert.equal(await text(pPage, `${card(pPage, 'Busy children')} .value`), `${CHILDREN} / ${CHILDREN}`);
  for (const id of ['a', 'b']) {
    await pPage.locator('tr.running', { hasText: `/hold.php?id=${id}-${uniq}` }).waitFor({ timeout: 4000 });
  }
  await shoot(pPage, 'dashboard-phone.png', true);

  // The queue drains; the page follows without a reload.
  release('a');
  release('b');
  await waitFor(async () => (await text(pPage, `${card(pPage, 'Listen queue')} .value`)) === '0', 8000);
  await waitFor(async () => (await pPage.locator('tr.running').count()) === 0, 8000);
  assert.deepEqual(problemsOf(pPage), []);
});

test('the master gone: the page says since when, keeps the last figures, marks them stale', async () => {
  dPage = await open(desktop, '/status?html');
  const last = await text(dPage, `${card(dPage, 'Requests / s')} .sub`);
  assert.equal(await d.stop(), 0, d.output());
  await dPage.locator('#live.down').waitFor({ timeout: 10_000 });
  assert.match(await text(dPage, '#live-text'), /^not answering since \d\d:\d\d:\d\d/);
  assert.match(await text(dPage, '#banner'), /^No answer from the status page since \d\d:\d\d:\d\d \(HTTP 502/);
  assert.equal(await dPage.locator('section.pool.stale').count(), 1);
  assert.equal(await text(dPage, `${card(dPage, 'Requests / s')} .sub`), last);
  await shoot(dPage, 'dashboard-down.png', false);
});
