// request_slowlog_timeout and request_terminate_timeout for one pool: one
// timer per pool that walks the busy children (php-fpm checks them on its
// heartbeat), nothing per request. A pool without either timeout has no
// watchdog at all.
//
// The timer fires on php-fpm's heartbeat (a third of the shortest timeout)
// and, when a busy request's deadline falls before the next beat, at that
// deadline: a request is logged or terminated within milliseconds of its
// limit (php-fpm: up to a heartbeat late).
//
// Slow: the WARNING, php-fpm's `about to trace` / `finished trace of`
// NOTICEs, the `slow requests` counter, and the entry in `slowlog` with the
// stack read from the child's memory (backtrace.ts).
// Terminated: the WARNING, then SIGKILL (php-cgi only sets a flag on
// SIGTERM and lets the script run on; php-fpm's worker dies of SIGTERM at
// once, so SIGKILL is what has the same effect). The web server's
// connection closes (nginx: 502), the pool logs php-fpm's exit line and the
// child is replaced (Pool.childExited / workerGone).
import type { PoolConfig } from '../config/types.js';
import type { ErrorLog } from '../log/error-log.js';
import type { Child } from '../pool/child.js';
import type { Request } from '../pool/request.js';
import type { PathProbe, PathSettings } from '../request-env/fpm-env.js';
import { scoreboardRequest } from '../status/request-info.js';
import { backtrace, type Outcome } from './backtrace.js';
import { appendEntry } from './slowlog-file.js';
import { entryHeader, formatEntry, scriptOnlyEntry, type EntryHead } from './slowlog-entry.js';
import { heartbeatMs, nextDueMs, slowLine, terminateLine, verdict, type RequestLine, type TimeoutSettings } from './timeouts.js';

/** What the watchdog needs of its pool (src/pool/pool.ts). */
export interface WatchedPool {
  readonly name: string;
  readonly cfg: PoolConfig;
  readonly children: ReadonlySet<Child>;
  readonly pathSettings: PathSettings;
  readonly pathProbe: PathProbe;
  /** The status page's `slow requests`. */
  slowRequests: number;
}

/** Binaries whose PHP cannot be read, already named in the log (once per binary and reason). */
const explained = new Set<string>();

/** A deadline that has just passed is checked this soon (the timer's floor). */
const MIN_DELAY_MS = 1;

export class RequestWatchdog {
  private timer: NodeJS.Timeout | null = null;
  /** Requests that have had their slowlog entry (php-fpm's child->slow_logged). */
  private readonly logged = new WeakSet<Request>();
  private readonly beat: number;

  private constructor(
    private readonly pool: WatchedPool,
    private readonly log: ErrorLog,
    private readonly s: TimeoutSettings,
  ) {
    this.beat = heartbeatMs(s);
  }

  /** The pool's watchdog, or null when neither timeout is set. */
  static forPool(pool: WatchedPool, log: ErrorLog): RequestWatchdog | null {
    const c = pool.cfg;
    // config/validate.ts already refused a slowlog timeout without a slowlog file.
    const slowMs = c.slowlog !== null ? c.requestSlowlogTimeout * 1000 : 0;
    const terminateMs = c.requestTerminateTimeout * 1000;
    if (slowMs <= 0 && terminateMs <= 0) return null;
    return new RequestWatchdog(pool, log, { slowMs, terminateMs, trackFinished: c.requestTerminateTimeoutTrackFinished });
  }

  start(): void {
    this.log.debug(`[pool ${this.pool.name}] heartbeat have been set up with a timeout of ${this.beat}ms`);
    this.arm(this.beat);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.sweep(), Math.max(MIN_DELAY_MS, ms));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = null;
    let next = this.beat;
    try {
      next = this.check();
    } catch (e) {
      // A bug here must not take the master down with it; the pool stays watched.
      this.log.error(`[pool ${this.pool.name}] request timeouts: ${(e as Error).stack ?? String(e)}`);
    }
    if (this.timer === null) this.arm(next);
  }

  /** Acts on every busy child that reached a limit; returns when the next check is due (ms). */
  private check(): number {
    const nowPerf = performance.now();
    const nowMs = Date.now();
    let next = this.beat;
    for (const child of this.pool.children) {
      const req = child.req;
      if (req === null || req.finished || child.terminated) continue;
      // startedAt is set when the child took the request (0 after a reload's hand-over: when the child was engaged).
      const elapsedMs = req.startedAt > 0 ? nowPerf - req.startedAt : nowMs - child.lastChange;
      // php-fpm's FINISHED stage: fastcgi_finish_request() closed the web server's
      // connection (its on_close hook; a kept connection leaves it Running).
      const busy = { elapsedMs, finished: req.replied && !req.keepConn, slowLogged: this.logged.has(req) };
      const v = verdict(busy, this.s);
      if (v === 'slow') {
        this.logged.add(req);
        this.slow(child, req, elapsedMs);
        busy.slowLogged = true;
      } else if (v === 'terminate') {
        this.terminate(child, req, elapsedMs);
        continue;
      }
      const due = nextDueMs(busy, this.s);
      // The one just logged as slow is terminated on the next check at the earliest, as in php-fpm.
      if (due !== null) next = Math.min(next, v === 'slow' ? Math.max(due, MIN_DELAY_MS) : due);
    }
    return next;
  }

  private line(child: Child, req: Request): RequestLine {
    const f = scoreboardRequest(req.params, this.pool.pathSettings, this.pool.pathProbe);
    return { pool: this.pool.name, pid: child.pid, script: f.script, method: f.method, uri: f.uri, query: f.query };
  }

  private terminate(child: Child, req: Request, elapsedMs: number): void {
    this.log.warning(terminateLine(this.line(child, req), elapsedMs));
    child.terminate();
  }

  private slow(child: Child, req: Request, elapsedMs: number): void {
    const pid = child.pid;
    const rl = this.line(child, req);
    this.pool.slowRequests++;
    this.log.warning(slowLine(rl, elapsedMs));
    if (pid <= 0) return; // a shared slot that has not learnt its worker's pid: nothing to read
    this.log.notice(`about to trace ${pid}`);
    const entry = this.entry(pid, rl.script);
    if (entry !== null) {
      const file = this.pool.cfg.slowlog as string;
      const err = appendEntry(file, entry);
      if (err !== null) this.log.syserror('error', `unable to open slowlog (${file})`, err);
    }
    this.log.notice(`finished trace of ${pid}`);
  }

  /** The slowlog entry for child `pid`, or null when its memory could not be opened (logged). */
  private entry(pid: number, script: string): string | null {
    const now = new Date();
    const head: EntryHead = {
      date: now, usec: now.getMilliseconds() * 1000,
      debug: this.log.getLevel() === 'debug', pool: this.pool.name, pid,
    };
    let r: Outcome;
    try {
      r = backtrace(pid, this.pool.cfg.requestSlowlogTraceDepth);
    } catch (e) {
      // Not expected (every /proc read is checked): the entry says the dump failed, the log why.
      this.log.error(`[pool ${this.pool.name}] reading the stack of child ${pid} failed: ${(e as Error).message}`);
      return `${entryHeader(head)}+++ dump failed\n`;
    }
    if (r.kind === 'trace') return formatEntry(head, r.trace);
    if (r.kind === 'error') {
      this.log.syserror('error', `failed to open ${r.what}`, r.err);
      return null;
    }
    const key = `${r.exe}\0${r.reason}`;
    if (!explained.has(key)) {
      explained.add(key);
      this.log.warning(`[pool ${this.pool.name}] slowlog entries of ${r.exe} carry no stack: ${r.reason}`);
    }
    return scriptOnlyEntry(head, script);
  }
}
