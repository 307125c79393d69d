// Pure: php-fpm's request timeouts (fpm_request_check_timed_out) for one busy
// child, the heartbeat they set, and the WARNING lines they log.
//
// A request is timed from the moment its child took it. It is slow once it
// has run request_slowlog_timeout while executing (logged once per
// request); it is terminated once it has run request_terminate_timeout. On a
// check that finds both, the slowlog comes first and the termination on the
// next check, as in php-fpm. A request whose reply is complete but whose
// script runs on (fastcgi_finish_request()) counts only with
// request_terminate_timeout_track_finished; it is never slow.

export interface TimeoutSettings {
  /** request_slowlog_timeout in ms, 0: off */
  slowMs: number;
  /** request_terminate_timeout in ms, 0: off */
  terminateMs: number;
  trackFinished: boolean;
}

export interface BusyRequest {
  elapsedMs: number;
  /** The reply went out already (fastcgi_finish_request()), the script still runs. */
  finished: boolean;
  /** This request has had its slowlog entry. */
  slowLogged: boolean;
}

export type Verdict = 'slow' | 'terminate' | null;

export function verdict(r: BusyRequest, s: TimeoutSettings): Verdict {
  if (r.finished && !s.trackFinished) return null;
  if (s.slowMs > 0 && !r.slowLogged && !r.finished && r.elapsedMs >= s.slowMs) return 'slow';
  if (s.terminateMs > 0 && r.elapsedMs >= s.terminateMs) return 'terminate';
  return null;
}

/** ms until this request's next verdict, or null when it will have none. */
export function nextDueMs(r: BusyRequest, s: TimeoutSettings): number | null {
  if (r.finished && !s.trackFinished) return null;
  let due: number | null = null;
  if (s.slowMs > 0 && !r.slowLogged && !r.finished) due = s.slowMs - r.elapsedMs;
  if (s.terminateMs > 0) {
    const t = s.terminateMs - r.elapsedMs;
    due = due === null ? t : Math.min(due, t);
  }
  return due === null ? null : Math.max(0, due);
}

/** php-fpm's floor for its heartbeat (FPM_PCTL_MIN_HEARTBEAT). */
export const MIN_HEARTBEAT_MS = 130;

/**
 * php-fpm's heartbeat: a third of the shortest timeout, at least 130 ms. A
 * request that starts between two checks is seen by the next one, still
 * before its first deadline; its deadline is then checked when it falls
 * (watchdog.ts), so the heartbeat sets the cost, not the precision.
 */
export function heartbeatMs(s: TimeoutSettings): number {
  const ts = [s.slowMs, s.terminateMs].filter((t) => t > 0);
  return Math.max(MIN_HEARTBEAT_MS, Math.floor(Math.min(...ts) / 3));
}

/** What php-fpm's scoreboard shows of the request in these lines. */
export interface RequestLine {
  pool: string;
  pid: number;
  script: string;
  method: string;
  uri: string;
  query: string;
}

/** str_purify_filename(): control and non-ASCII bytes as '.'. */
export function purify(s: string): string {
  return s.replace(/[\x00-\x1f\x80-\xff]/g, '.'); // params are latin1: one char per byte
}

/** `%d.%06d` seconds. */
export function seconds(ms: number): string {
  const us = Math.max(0, Math.round(ms * 1000));
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

function head(r: RequestLine): string {
  return `[pool ${r.pool}] child ${r.pid}, script '${purify(r.script)}' (request: "${r.method} ${r.uri}${r.query !== '' ? '?' : ''}${r.query}")`;
}

export function slowLine(r: RequestLine, elapsedMs: number): string {
  return `${head(r)} executing too slow (${seconds(elapsedMs)} sec), logging`;
}

export function terminateLine(r: RequestLine, elapsedMs: number): string {
  return `${head(r)} execution timed out (${seconds(elapsedMs)} sec), terminating`;
}
