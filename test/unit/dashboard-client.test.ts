// The dashboard script's pure parts, run in node:vm (the browser test in
// test/e2e/dashboard.test.ts runs the rest): formatting, request rates from
// accepted conn, the status request's own child, #pools= parsing, the charts'
// span and step paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createContext, runInContext } from 'node:vm';
import { DASHBOARD_JS } from '../../src/status/dashboard/client.js';

// No `document`: the script defines its functions and does not start.
const ctx = createContext({});
runInContext(DASHBOARD_JS, ctx);
/** Calls a function of the script; the result comes back through JSON (plain objects of this realm). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const call = (fn: string, ...args: unknown[]): any => JSON.parse(runInContext(`JSON.stringify(${fn}(...${JSON.stringify(args)}))`, ctx) as string);

test('durations, ages, sizes, rates as a person reads them', () => {
  assert.equal(call('fmtDuration', 85), '85 \u00b5s');
  assert.equal(call('fmtDuration', 4321), '4.3 ms');
  assert.equal(call('fmtDuration', 43210), '43 ms');
  assert.equal(call('fmtDuration', 3_950_000), '3.95 s');
  assert.equal(call('fmtDuration', 42_000_000), '42.0 s');
  assert.equal(call('fmtDuration', 192_000_000), '3 min 12 s');
  assert.equal(call('fmtDuration', -1), '\u2013');
  assert.equal(call('fmtAge', 7.9), '7 s');
  assert.equal(call('fmtAge', 3 * 3600 + 125), '3 h 2 min');
  assert.equal(call('fmtAge', 50 * 3600), '2 d 2 h');
  assert.equal(call('fmtBytes', 2097152), '2.0 MiB');
  assert.equal(call('fmtRate', null), '\u2013');
  assert.equal(call('fmtRate', 2.054), '2.05');
  assert.equal(call('fmtRate', 1234.4), '1234');
});

test('request rates from accepted conn: per interval, over the last span, none across a restart', () => {
  const pts = [{ t: 0, accepted: 10 }, { t: 5000, accepted: 20 }, { t: 7000, accepted: 30 }, { t: 9000, accepted: 2 }, { t: 11000, accepted: 6 }];
  assert.deepEqual(call('rates', pts), [{ t0: 0, t: 5000, v: 2 }, { t0: 5000, t: 7000, v: 5 }, { t0: 9000, t: 11000, v: 2 }]);
  assert.equal(call('recentRate', pts.slice(0, 3), 10000), 20 / 7);
  assert.equal(call('recentRate', pts.slice(0, 3), 2000), 5);
  assert.equal(call('recentRate', pts.slice(0, 1), 2000), null);
  assert.equal(call('recentRate', pts.slice(2, 4), 2000), null, 'the counter went back');
  const kept = [{ t: 0 }, { t: 1000 }, { t: 700_000 }, { t: 800_000 }];
  runInContext(`var kept = ${JSON.stringify(kept)}; trimPoints(kept, 800000);`, ctx);
  assert.deepEqual(JSON.parse(runInContext('JSON.stringify(kept)', ctx) as string), [{ t: 1000 }, { t: 700_000 }, { t: 800_000 }], 'one point before the 10 min window stays');
});

test('busy children leave out the child shown serving this status request', () => {
  const j = {
    'active processes': 2, 'total processes': 3, 'listen queue': 1, processes: [
      { state: 'Running', 'request uri': '/status?json&full' },
      { state: 'Running', 'request uri': '/statusx.php' },
      { state: 'Idle', 'request uri': '/status?json&full' },
    ],
  };
  const f = call('figures', j, '/status');
  assert.deepEqual([f.busy, f.total, f.queue, f.self], [1, 3, 1, 1]);
  assert.equal(call('figures', j, '').busy, 2, 'pm.status_listen: no child serves the page');
});

test('#pools= lists same-site paths only', () => {
  assert.deepEqual(call('extraPools', '#pools=/status-api,%2Fstatus-b,//evil.example/x,https://evil.example/,/a\\b,/status-api'), ['/status-api', '/status-b']);
  assert.deepEqual(call('extraPools', '#x=1&pools=/s'), ['/s']);
  assert.deepEqual(call('extraPools', ''), []);
});

test('charts: the span grows with the history to 10 minutes; steps hold each value over its interval', () => {
  assert.equal(call('spanOf', [], 0), 60000);
  assert.equal(call('spanOf', [{ t: 0 }], 90000), 120000);
  assert.equal(call('spanOf', [{ t: 0 }], 3_600_000), 600000);
  const d = call('stepPath', [{ t0: 30000, t: 45000, v: 1 }, { t0: 45000, t: 60000, v: 2 }], 60000, 2, true, 60000);
  assert.equal(d, 'M300.0 100 L300.0 52.0 L450.0 52.0 L450.0 6.0 L600.0 6.0 L600.0 100 Z');
});
