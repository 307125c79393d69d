// The per-pool watchdog (src/slowlog/watchdog.ts) on a fake pool: no
// watchdog without timeouts, a request logged once when slow (counter,
// php-fpm's lines), terminated at its limit, slowlog before termination when
// both are due, children without a request or already terminated left alone.
// Children have no pid here (a shared slot not probed yet), so no stack is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestWatchdog, type WatchedPool } from '../../src/slowlog/watchdog.js';
import type { Child } from '../../src/pool/child.js';
import type { Request } from '../../src/pool/request.js';
import type { PoolConfig } from '../../src/config/types.js';
import type { ErrorLog } from '../../src/log/error-log.js';
import { DEFAULT_PATH_SETTINGS } from '../../src/request-env/fpm-env.js';

function fakeLog(lines: string[]): ErrorLog {
  const at = (level: string) => (msg: string): void => { lines.push(`${level}: ${msg}`); };
  return { debug: at('DEBUG'), notice: at('NOTICE'), warning: at('WARNING'), error: at('ERROR'), syserror: at('SYSERROR'), getLevel: () => 'notice' } as unknown as ErrorLog;
}

interface FakeChild { pid: number; req: Request | null; lastChange: number; terminated: boolean; kills: number; terminate(): void }

function child(ageMs: number | null): FakeChild {
  const params = new Map([['SCRIPT_FILENAME', '/srv/x.php'], ['SCRIPT_NAME', '/x.php'], ['REQUEST_METHOD', 'GET'], ['QUERY_STRING', 'a=1']]);
  const req = ageMs === null ? null : { params, startedAt: performance.now() - ageMs, finished: false } as unknown as Request;
  // Either clock gives the age (a fresh process's performance.now() may be below it: then lastChange counts).
  return { pid: -1, req, lastChange: Date.now() - (ageMs ?? 0), terminated: false, kills: 0, terminate() { this.terminated = true; this.kills++; } };
}

function pool(cfg: Partial<PoolConfig>, children: FakeChild[]): WatchedPool {
  return {
    name: 'www', children: new Set(children as unknown as Child[]), slowRequests: 0,
    cfg: { slowlog: '/nonexistent/slow.log', requestSlowlogTimeout: 0, requestTerminateTimeout: 0, requestTerminateTimeoutTrackFinished: false, requestSlowlogTraceDepth: 20, ...cfg } as PoolConfig,
    pathSettings: DEFAULT_PATH_SETTINGS, pathProbe: { resolves: () => true, isFile: () => true },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('no timeouts, no watchdog; a slowlog timeout without a slowlog file is none', () => {
  assert.equal(RequestWatchdog.forPool(pool({}, []), fakeLog([])), null);
  assert.equal(RequestWatchdog.forPool(pool({ slowlog: null, requestSlowlogTimeout: 1 }, []), fakeLog([])), null);
});

test('slow once, counted, then terminated at the limit; idle and terminated children left alone', async () => {
  const lines: string[] = [];
  const busy = child(900);
  const idle = child(null);
  const gone = child(5000);
  gone.terminated = true;
  const p = pool({ requestSlowlogTimeout: 1, requestTerminateTimeout: 2 }, [busy, idle, gone]);
  const w = RequestWatchdog.forPool(p, fakeLog(lines))!;
  w.start();
  try {
    assert.deepEqual(lines, ['DEBUG: [pool www] heartbeat have been set up with a timeout of 333ms']);
    await sleep(400); // first beat at 333 ms: busy is slow
    assert.equal(p.slowRequests, 1);
    assert.match(lines[1], /^WARNING: \[pool www\] child -1, script '\/srv\/x\.php' \(request: "GET \/x\.php\?a=1"\) executing too slow \(1\.\d{6} sec\), logging$/);
    assert.equal(lines.length, 2, 'no trace without a pid');
    await sleep(1000); // 2.3 s: terminated, at its deadline rather than on a beat
    assert.equal(busy.kills, 1);
    assert.equal(p.slowRequests, 1, 'slow once per request');
    const t = /execution timed out \((\d\.\d{6}) sec\), terminating$/.exec(lines[2]);
    assert.ok(t !== null, lines.join('\n'));
    assert.ok(Number(t[1]) >= 2 && Number(t[1]) < 2.2, t[1]);
    assert.equal(gone.kills, 0);
    assert.equal(lines.length, 3);
  } finally {
    w.stop();
  }
});

test('both limits already passed: the slowlog first, the termination on the very next check', async () => {
  const lines: string[] = [];
  const late = child(5000);
  const p = pool({ requestSlowlogTimeout: 1, requestTerminateTimeout: 3 }, [late]);
  const w = RequestWatchdog.forPool(p, fakeLog(lines))!;
  w.start();
  try {
    await sleep(380);
    assert.deepEqual(lines.slice(1).map((l) => l.replace(/ \(.*/, '')), [
      "WARNING: [pool www] child -1, script '/srv/x.php'",
      "WARNING: [pool www] child -1, script '/srv/x.php'",
    ]);
    assert.match(lines[1], /executing too slow/);
    assert.match(lines[2], /execution timed out/);
    assert.equal(late.kills, 1);
  } finally {
    w.stop();
  }
});
