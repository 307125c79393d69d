// The dashboard at ?html (src/status/dashboard): who gets it (a browser's
// Accept) and who keeps php-fpm's bytes, the server-side history of the last
// minutes, and the page itself: hostile values stay text, the CSP hashes are
// those of the inline script and style, the embedded data is php-fpm's json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Script } from 'node:vm';
import type { PoolConfig } from '../../src/config/types.js';
import type { Child } from '../../src/pool/child.js';
import type { Request } from '../../src/pool/request.js';
import { RecordType } from '../../src/fastcgi/constants.js';
import type { StatusSource } from '../../src/status/collect.js';
import { DEFAULT_PATH_SETTINGS } from '../../src/request-env/fpm-env.js';
import { StatusResponder } from '../../src/status/responder.js';
import { render } from '../../src/status/render.js';
import type { PoolStatus } from '../../src/status/snapshot.js';
import { namesHtml, wantsDashboard } from '../../src/status/dashboard/negotiate.js';
import { StatusHistory } from '../../src/status/dashboard/history.js';
import { DASHBOARD_HEADERS, dashboardData, renderDashboard } from '../../src/status/dashboard/page.js';
import { DASHBOARD_JS } from '../../src/status/dashboard/client.js';
import { DASHBOARD_CSS } from '../../src/status/dashboard/style.js';

process.env.TZ = 'UTC';

const CHROME = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
const FIREFOX = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

test('a browser\'s Accept names text/html; tools\' do not', () => {
  for (const a of [CHROME, FIREFOX, 'text/html', 'TEXT/HTML; charset=utf-8', 'application/json, text/html;q=0.1']) assert.equal(namesHtml(a), true, a);
  // curl, wget, php-src's tester (none), exporters, a refusal.
  for (const a of [undefined, '', '*/*', 'text/*', 'application/json', 'text/html;q=0', 'text/html; q=0.0', 'text/htmlx']) assert.equal(namesHtml(a), false, String(a));
});

test('?html&classic keeps php-fpm\'s page for a browser; other keys do not', () => {
  assert.equal(wantsDashboard(CHROME, 'html'), true);
  assert.equal(wantsDashboard(CHROME, 'html&full'), true);
  assert.equal(wantsDashboard(CHROME, undefined), true);
  assert.equal(wantsDashboard(CHROME, 'html&classic'), false);
  assert.equal(wantsDashboard(CHROME, 'classic=1&html'), false);
  assert.equal(wantsDashboard(CHROME, 'html&class'), true, 'matched whole, not as a prefix');
  assert.equal(wantsDashboard('*/*', 'html'), false);
});

test('history: a baseline at once, then one bucket per 5 s with the largest busy and queue seen in it', () => {
  const h = new StatusHistory(5000, 4);
  const t0 = 1_000_000;
  h.record(t0, 10, 1, 0);
  assert.deepEqual(h.points(), [{ t: t0, accepted: 10, active: 1, queue: 0 }]);
  // Ticks a second apart, one of them a little early.
  h.record(t0 + 1000, 12, 3, 2);
  h.record(t0 + 2000, 13, 0, 0);
  h.record(t0 + 3000, 15, 1, 5);
  h.record(t0 + 4600, 17, 0, 0);
  assert.equal(h.points().length, 2);
  assert.deepEqual(h.points()[1], { t: t0 + 4600, accepted: 17, active: 3, queue: 5 });
  h.record(t0 + 5600, 18, 2, 0);
  for (let i = 1; i <= 20; i++) h.record(t0 + 5600 + i * 1000, 18 + i, 1, 0);
  const pts = h.points();
  assert.equal(pts.length, 4, 'the ring keeps its size');
  assert.ok(pts.every((p, i) => i === 0 || p.t - pts[i - 1].t === 5000), 'oldest first, 5 s apart');
  assert.equal(pts[3].accepted, 37);
});

const S: PoolStatus = {
  pool: 'w<w>', processManager: 'static', startTime: 1796076169, startSince: 14, acceptedConn: 8, listenQueue: 1,
  maxListenQueue: 3, listenQueueLen: 4096, idleProcesses: 0, activeProcesses: 2, maxActiveProcesses: 2, maxChildrenReached: 0, slowRequests: 0,
  processes: [
    { pid: 11, state: 'Running', startTime: 1796076169, startSince: 14, requests: 4, requestDuration: 85, requestMethod: 'GET',
      requestUri: '/</script><script>alert(1)</script>', queryString: '<!--<script>x', contentLength: 0n, user: '<img src=x onerror=alert(2)>',
      script: '/var/www/<b>.php', lastRequestCpu: 0, lastRequestMemory: 0 },
    { pid: 12, state: 'Running', startTime: 1796076169, startSince: 14, requests: 3, requestDuration: 9, requestMethod: 'GET',
      requestUri: '/status', queryString: 'html', contentLength: 0n, user: '-', script: '-', lastRequestCpu: 0, lastRequestMemory: 0 },
  ],
};
const HISTORY = [{ t: 1796076160000, accepted: 2, active: 1, queue: 0 }, { t: 1796076165000, accepted: 6, active: 2, queue: 1 }];
const NOW = 1796076183000;

const between = (s: string, open: string, close: string): string => {
  const a = s.indexOf(open);
  assert.ok(a >= 0, open);
  return s.slice(a + open.length, s.indexOf(close, a + open.length));
};

test('the page: hostile values stay text; the only markup is the page\'s own', () => {
  const page = renderDashboard({ status: S, history: HISTORY, selfUri: '/status', nowMs: NOW });
  // php-src's GHSA-7qg2-v9fj-4mwv test: no <script> anywhere; nor anything that ends or comments out a script element.
  assert.equal(page.indexOf('<script>'), -1);
  assert.equal(page.match(/<script/g)?.length, 2, 'the data block and the script, nothing from the data');
  assert.equal(page.match(/<\/script>/g)?.length, 2);
  assert.equal(page.match(/<!--/g), null);
  assert.equal(page.match(/<img/g), null);
  assert.ok(page.includes('<title>w&lt;w&gt; &middot; tsfpm status</title>'));
  // The no-script fallback: php-fpm's tables with php-fpm's escaping.
  assert.ok(page.includes('<td>/&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;?&lt;!--&lt;script&gt;x</td>'));
  assert.ok(page.includes('<td>&lt;img src=x onerror=alert(2)&gt;</td>'));
  assert.ok(page.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">'));
});

test('the embedded data is php-fpm\'s json&full with the history, every < escaped', () => {
  const raw = between(renderDashboard({ status: S, history: HISTORY, selfUri: '/status', nowMs: NOW }), '<script type="application/json" id="tsfpm-status">', '</script>');
  assert.equal(raw, dashboardData({ status: S, history: HISTORY, selfUri: '/status', nowMs: NOW }));
  assert.ok(!raw.includes('<'));
  const data = JSON.parse(raw) as { now: number; self: string; history: number[][]; status: unknown };
  assert.equal(data.now, NOW);
  assert.equal(data.self, '/status');
  assert.deepEqual(data.history, [[1796076160000, 2, 1, 0], [1796076165000, 6, 2, 1]]);
  assert.deepEqual(data.status, JSON.parse(render(S, 'json', true)));
});

const sha = (s: string): string => createHash('sha256').update(s, 'latin1').digest('base64');

test('the CSP allows exactly the inline script and style, fetches to the same site, nothing else', () => {
  const page = renderDashboard({ status: S, history: [], selfUri: '/status', nowMs: NOW });
  const script = between(page, '<script type="text/javascript">', '</script>');
  const style = between(page, '<style>', '</style>');
  assert.equal(script, DASHBOARD_JS);
  assert.equal(style, DASHBOARD_CSS);
  const csp = /^Content-Security-Policy: (.*)\r\n/m.exec(DASHBOARD_HEADERS)![1];
  assert.deepEqual(csp.split('; '), [
    "default-src 'none'", `script-src 'sha256-${sha(script)}'`, `style-src 'sha256-${sha(style)}'`,
    "connect-src 'self'", 'img-src data:', "base-uri 'none'", "form-action 'none'",
  ]);
  // ASCII only: the hashes and the page must not depend on an encoding.
  assert.match(DASHBOARD_JS + DASHBOARD_CSS, /^[\x09\x0a\x20-\x7e]*$/);
  assert.doesNotThrow(() => new Script(DASHBOARD_JS), 'the script parses');
});

// ---- the responder: dashboard or php-fpm's bytes

function records(b: Buffer): string {
  let out = '';
  for (let at = 0; at < b.length;) {
    const len = b.readUInt16BE(at + 4);
    if (b[at + 1] === RecordType.STDOUT) out += b.toString('latin1', at + 8, at + 8 + len);
    at += 8 + len + b[at + 6];
  }
  return out;
}

const T0 = 1_796_076_200_000;
function source(): StatusSource {
  const idle = { pid: 100, state: 'idle', req: null, last: null, requests: 0, startedAt: T0, lastChange: T0 } as unknown as Child;
  return {
    name: 'www', cfg: { pm: 'static', listenBacklog: 511 } as PoolConfig, startedAt: T0, acceptedConn: 3, maxActive: 0,
    maxChildrenReached: 0, maxListenQueue: 0, slowRequests: 0, children: new Set([idle]), listenQueue: () => 0,
    pathSettings: DEFAULT_PATH_SETTINGS, pathProbe: { resolves: () => false, isFile: () => false },
  };
}
function ask(r: StatusResponder, query: string, accept?: string, method = 'GET'): { head: string; body: string } {
  const params: Record<string, string> = { SCRIPT_FILENAME: '/nonexistent/status', SCRIPT_NAME: '/status', QUERY_STRING: query, REQUEST_METHOD: method };
  if (accept !== undefined) params.HTTP_ACCEPT = accept;
  const req = { id: 1, params: new Map(Object.entries(params)), startedAt: 0 } as unknown as Request;
  const src = source();
  const out = records(r.answer('/status', req, src, [...src.children][0])!);
  const cut = out.indexOf('\r\n\r\n');
  return { head: out.slice(0, cut + 2), body: out.slice(cut + 4) };
}

test('responder: the dashboard for a browser at ?html, php-fpm\'s page and headers for everyone else', () => {
  const r = StatusResponder.for({ pmStatusPath: '/status', pingPath: '', pingResponse: null } as unknown as PoolConfig)!;
  assert.notEqual(r.history, null);
  const classic = ask(r, 'html');
  assert.match(classic.body, /^<!DOCTYPE html PUBLIC "-\/\/W3C\/\/DTD XHTML 1.0 Strict\/\/EN"/);
  assert.ok(classic.body.endsWith('</table>\n</body></html>'));
  assert.ok(!classic.head.includes('Content-Security-Policy'));
  assert.deepEqual(ask(r, 'html', '*/*'), classic);
  assert.deepEqual(ask(r, 'html&classic', CHROME).body.replace(/\d+/g, '0'), classic.body.replace(/\d+/g, '0'));

  const dash = ask(r, 'html', CHROME);
  assert.ok(dash.body.startsWith('<!DOCTYPE html>\n'));
  assert.equal(dash.head, `Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache, no-store, must-revalidate, max-age=0\r\nContent-type: text/html;charset=UTF-8\r\n${DASHBOARD_HEADERS}`);
  // Always with the processes, the one serving this request among them.
  const data = JSON.parse(between(dash.body, 'id="tsfpm-status">', '</script>')) as { status: { processes: Array<Record<string, unknown>> } };
  assert.deepEqual(data.status.processes.map((p) => [p.pid, p.state, p['request uri']]), [[100, 'Running', '/status?html']]);

  // Other formats and HEAD are php-fpm's whatever the Accept.
  assert.ok(ask(r, 'json', CHROME).body.startsWith('{"pool":"www"'));
  assert.equal(ask(r, 'html', CHROME, 'HEAD').body, '');
  assert.ok(!ask(r, 'html', CHROME, 'HEAD').head.includes('Content-Security-Policy'));
});

test('a pool with only a ping page keeps no history', () => {
  const r = StatusResponder.for({ pmStatusPath: '', pingPath: '/ping', pingResponse: 'pong' } as unknown as PoolConfig)!;
  assert.equal(r.history, null);
});
