// The status figures read from a pool: states per child, the status request
// shown served by the child php-fpm would have used, listen queue length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Child } from '../../src/pool/child.js';
import type { Request } from '../../src/pool/request.js';
import type { PoolConfig } from '../../src/config/types.js';
import { collectStatus, listenQueueLen, type StatusSource } from '../../src/status/collect.js';
import { DEFAULT_PATH_SETTINGS } from '../../src/request-env/fpm-env.js';

const NOW = 1_796_076_200_000;
const PERF = 50_000;

function req(params: Record<string, string>, startedAt: number, endedAt = 0): Request {
  return { params: new Map(Object.entries(params)), startedAt, endedAt, finished: endedAt > 0 } as unknown as Request;
}
function child(o: Partial<Child>): Child {
  return { pid: 100, state: 'idle', req: null, last: null, requests: 0, startedAt: NOW - 10_000, lastChange: NOW, ...o } as Child;
}
function source(children: Child[], extra: Partial<StatusSource> = {}): StatusSource {
  return {
    name: 'www', cfg: { pm: 'dynamic', listenBacklog: 511 } as PoolConfig, startedAt: NOW - 20_500, acceptedConn: 9,
    maxActive: 1, maxChildrenReached: 2, maxListenQueue: 4, slowRequests: 5, children: new Set(children), listenQueue: () => 3,
    pathSettings: DEFAULT_PATH_SETTINGS, pathProbe: { resolves: () => false, isFile: () => false }, ...extra,
  };
}
const GET_STATUS = { SCRIPT_FILENAME: '/nonexistent/status', SCRIPT_NAME: '/status', QUERY_STRING: 'json&full', REQUEST_METHOD: 'GET' };

test('pool figures and per-child states', () => {
  const running = child({ pid: 101, state: 'busy', requests: 4, req: req({ SCRIPT_FILENAME: '/nonexistent/a.php', SCRIPT_NAME: '/a.php', REQUEST_METHOD: 'GET', QUERY_STRING: 'x=1' }, PERF - 2) });
  const reading = child({ pid: 102, state: 'busy', requests: 1, lastChange: NOW - 3 });
  const idle = child({ pid: 103, requests: 7, last: req({ SCRIPT_FILENAME: '/nonexistent/b.php', SCRIPT_NAME: '/b.php', REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' }, PERF - 100, PERF - 99.5) });
  const fresh = child({ pid: 104 });
  const unprobed = child({ pid: -1 });
  const s = collectStatus(source([running, reading, idle, fresh, unprobed]), { full: true, server: null, statusReq: null, nowMs: NOW, nowPerf: PERF });
  assert.equal(s.startSince, 21, 'whole seconds, as time(NULL) differences');
  assert.deepEqual([s.acceptedConn, s.listenQueue, s.maxListenQueue, s.listenQueueLen, s.idleProcesses, s.activeProcesses, s.maxActiveProcesses, s.maxChildrenReached, s.slowRequests],
    [9, 3, 4, Math.min(511, s.listenQueueLen), 2, 2, 2, 2, 5]);
  assert.deepEqual(s.processes.map((p) => [p.pid, p.state, p.requests, p.requestDuration, p.requestMethod, p.requestUri, p.queryString, p.contentLength]), [
    [101, 'Running', 5, 2000, 'GET', '/a.php', 'x=1', 0n],
    [102, 'Reading headers', 2, 3000, '-', '', '', 0n],
    [103, 'Idle', 7, 500, 'POST', '/b.php', '', 5n],
    [104, 'Idle', 0, 0, '-', '', '', 0n],
  ]);
  assert.ok(s.processes.every((p) => p.lastRequestCpu === 0 && p.lastRequestMemory === 0 && p.startSince === 10));
});

test('the status request is shown served by the idle child php-fpm would have used', () => {
  const idle = child({ pid: 201, requests: 3 });
  const other = child({ pid: 202 });
  const src = source([idle, other], { maxActive: 0 });
  const status = req(GET_STATUS, PERF - 0.05);
  const s = collectStatus(src, { full: true, server: idle, statusReq: status, nowMs: NOW, nowPerf: PERF });
  assert.deepEqual([s.idleProcesses, s.activeProcesses, s.maxActiveProcesses], [1, 1, 1]);
  assert.equal(src.maxActive, 1, 'max active raised, as php-fpm\'s scoreboard does');
  const p = s.processes[0];
  assert.deepEqual([p.state, p.requests, p.requestDuration, p.requestUri, p.queryString, p.script], ['Running', 4, 50, '/status', 'json&full', '-']);
});

test('through pm.status_listen nothing is borrowed', () => {
  const s = collectStatus(source([child({ pid: 301 })], { maxActive: 0 }), { full: false, server: null, statusReq: req(GET_STATUS, PERF), nowMs: NOW, nowPerf: PERF });
  assert.deepEqual([s.idleProcesses, s.activeProcesses, s.maxActiveProcesses, s.processes.length], [1, 0, 0, 0]);
});

test('listen queue len: listen.backlog as listen(2) gets it, clamped to somaxconn', () => {
  assert.equal(listenQueueLen(-1, 4096), 4096);
  assert.equal(listenQueueLen(511, 4096), 511);
  assert.equal(listenQueueLen(0, 4096), 1);
  assert.equal(listenQueueLen(10000, 4096), 4096);
});
