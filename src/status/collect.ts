// The status page's figures, read from what the master already has: the
// pool's counters and, per child, its state, its current or last Request and
// when it started. Nothing here runs on the request path.
//
// php-fpm answers the page from one of the pool's workers, so the request
// itself shows as one active process serving it. tsfpm answers it in the
// master; to report what php-fpm reports, the child that php-fpm would have
// used (the one reserved for the connection, else the next idle one) is shown
// serving the status request. With no such child (every child busy) the real
// figures are shown: php-fpm's request would have waited for a worker.
import * as fs from 'node:fs';
import type { PoolConfig } from '../config/types.js';
import type { Child } from '../pool/child.js';
import type { Request } from '../pool/request.js';
import type { PathProbe, PathSettings } from '../request-env/fpm-env.js';
import type { PoolStatus, ProcessState, ProcessStatus } from './snapshot.js';
import { requestInfo, type RequestInfo } from './request-info.js';

/** What a pool exposes to the status page (src/pool/pool.ts). */
export interface StatusSource {
  readonly name: string;
  readonly cfg: PoolConfig;
  /** ms since the epoch */
  readonly startedAt: number;
  readonly acceptedConn: number;
  maxActive: number;
  readonly maxChildrenReached: number;
  readonly maxListenQueue: number;
  /** Requests that reached request_slowlog_timeout (src/slowlog/watchdog.ts). */
  readonly slowRequests: number;
  readonly children: ReadonlySet<Child>;
  /** Requests and unread connections waiting for a child now. */
  listenQueue(): number;
  /** How the pool's children see the file system (chroot), for php-fpm's path computation. */
  readonly pathSettings: PathSettings;
  readonly pathProbe: PathProbe;
}

export interface CollectOptions {
  full: boolean;
  /** The child shown serving the status request, null for none (pm.status_listen). */
  server: Child | null;
  /** The status request itself. */
  statusReq: Request | null;
  nowMs: number;
  /** performance.now() */
  nowPerf: number;
}

let somaxconn: number | null = null;

/** net.core.somaxconn, read once. */
function kernelSomaxconn(): number {
  if (somaxconn === null) {
    try {
      somaxconn = Number.parseInt(fs.readFileSync('/proc/sys/net/core/somaxconn', 'latin1'), 10) || 4096;
    } catch {
      somaxconn = 4096;
    }
  }
  return somaxconn;
}

/**
 * The backlog the kernel gives the pool's listening socket: listen.backlog as
 * net/listener.ts passes it to listen(2) (-1 → 65535, 0 → 1), clamped to
 * net.core.somaxconn as Linux clamps it.
 */
export function listenQueueLen(backlog: number, max = kernelSomaxconn()): number {
  const asked = backlog < 0 ? 65535 : backlog === 0 ? 1 : backlog;
  return Math.min(asked, max);
}

function stateOf(c: Child): ProcessState {
  if (c.state === 'idle') return 'Idle';
  if (c.req !== null && !c.req.finished) {
    // After fastcgi_finish_request() php-fpm's worker closed the web server's
    // connection (its on_close hook: fpm_request_finished); one the web server keeps stays Running.
    return c.req.replied && !c.req.keepConn ? 'Finishing' : 'Running';
  }
  return c.state === 'busy' ? 'Reading headers' : 'Idle';
}

const NO_REQUEST: RequestInfo = { method: '-', uri: '', query: '', contentLength: 0n, user: '-', script: '-' };
const usOf = (ms: number): number => Math.max(0, Math.round(ms * 1000));

export function collectStatus(src: StatusSource, o: CollectOptions): PoolStatus {
  const nowSec = Math.floor(o.nowMs / 1000);
  const info = (r: Request): RequestInfo => requestInfo(r.params, src.pathSettings, src.pathProbe);
  let idle = 0;
  let active = 0;
  const processes: ProcessStatus[] = [];
  for (const c of src.children) {
    if (c.pid <= 0) continue; // a shared-mode slot that has not learnt its worker's pid yet
    const started = Math.floor(c.startedAt / 1000);
    let state = stateOf(c);
    let requests = c.requests;
    let duration = 0;
    let req: RequestInfo = NO_REQUEST;
    if (c === o.server) {
      state = 'Running';
      requests++;
      if (o.statusReq !== null) {
        duration = usOf(o.nowPerf - o.statusReq.startedAt);
        if (o.full) req = info(o.statusReq);
      }
    } else if (state === 'Running' || state === 'Finishing') {
      requests++;
      const r = c.req!;
      // startedAt is 0 for a request engaged without the pool's bookkeeping (a reload's hand-over).
      duration = r.startedAt > 0 ? usOf(o.nowPerf - r.startedAt) : usOf(o.nowMs - c.lastChange);
      if (o.full) req = info(r);
    } else if (state === 'Reading headers') {
      requests++;
      duration = usOf(o.nowMs - c.lastChange);
    } else if (c.last !== null) {
      // Idle: php-fpm keeps the last request's figures until the next one starts.
      const r = c.last;
      duration = r.startedAt > 0 ? usOf((r.endedAt || o.nowPerf) - r.startedAt) : 0;
      if (o.full) req = info(r);
    }
    if (state === 'Idle') idle++;
    else active++;
    if (!o.full) continue;
    processes.push({
      pid: c.pid, state, startTime: started, startSince: nowSec - started, requests, requestDuration: duration,
      requestMethod: req.method, requestUri: req.uri, queryString: req.query, contentLength: req.contentLength,
      user: req.user, script: req.script,
      // Per-request CPU and peak memory are not known without asking PHP (docs/status.md).
      lastRequestCpu: 0, lastRequestMemory: 0,
    });
  }
  // php-fpm's scoreboard raises max active whenever a worker becomes active, the status one included.
  if (active > src.maxActive) src.maxActive = active;
  const start = Math.floor(src.startedAt / 1000);
  return {
    pool: src.name,
    processManager: src.cfg.pm,
    startTime: start,
    startSince: nowSec - start,
    acceptedConn: src.acceptedConn,
    listenQueue: src.listenQueue(),
    maxListenQueue: src.maxListenQueue,
    listenQueueLen: listenQueueLen(src.cfg.listenBacklog),
    idleProcesses: idle,
    activeProcesses: active,
    maxActiveProcesses: src.maxActive,
    maxChildrenReached: src.maxChildrenReached,
    slowRequests: src.slowRequests,
    processes,
  };
}
