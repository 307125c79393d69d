// Pure: what fpm_get_status() returns (php-fpm's fpm_status_export_to_zval),
// in PHP's serialize() format, for the pool's prepend shim to unserialize().
// The keys are php-fpm's (dashes, `procs`, `request-uri` without the query,
// `request-length`), and so are the types: ints, strings of raw bytes, and
// `last-request-cpu` a float even when it is 0. serialize() rather than JSON:
// a request URI is any bytes, which json_decode() rejects unless they are
// UTF-8, and JSON cannot tell PHP that 0 is a float.
import type { PoolStatus, ProcessStatus } from './snapshot.js';

// Strings built here are byte strings (one char per byte, as the params are decoded).
const str = (s: string): string => `s:${s.length}:"${s}";`;
const int = (n: number | bigint): string => `i:${n};`;
// A float: unserialize() reads "d:0;" as 0.0 and JavaScript's shortest form (1e+21 too) as PHP would.
const dbl = (n: number): string => `d:${Number.isFinite(n) ? n : 0};`;

function arr(entries: string[][]): string {
  return `a:${entries.length}:{${entries.map(([k, v]) => str(k) + v).join('')}}`;
}

/** The pool's name as bytes (config text is UTF-8). */
const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

function proc(p: ProcessStatus): string {
  const idle = p.state === 'Idle';
  return arr([
    ['pid', int(p.pid)],
    ['state', str(p.state)],
    ['start-time', int(p.startTime)],
    ['start-since', int(p.startSince)],
    ['requests', int(p.requests)],
    ['request-duration', int(p.requestDuration)],
    ['request-method', str(p.requestMethod)],
    ['request-uri', str(p.requestUri)],
    ['query-string', str(p.queryString)],
    // content_length is a size_t that add_assoc_long() turns into a signed zend_long.
    ['request-length', int(BigInt.asIntN(64, p.contentLength))],
    ['user', str(p.user)],
    ['script', str(p.script)],
    ['last-request-cpu', dbl(idle ? p.lastRequestCpu : 0)],
    ['last-request-memory', int(idle ? p.lastRequestMemory : 0)],
  ]);
}

/** `s` must have been collected with `full` (every process listed). */
export function renderPhp(s: PoolStatus): Buffer {
  const text = arr([
    ['pool', str(bytes(s.pool))],
    ['process-manager', str(s.processManager)],
    ['start-time', int(s.startTime)],
    ['start-since', int(s.startSince)],
    ['accepted-conn', int(s.acceptedConn)],
    ['listen-queue', int(s.listenQueue)],
    ['max-listen-queue', int(s.maxListenQueue)],
    ['listen-queue-len', int(s.listenQueueLen)],
    ['idle-processes', int(s.idleProcesses)],
    ['active-processes', int(s.activeProcesses)],
    ['total-processes', int(s.idleProcesses + s.activeProcesses)],
    ['max-active-processes', int(s.maxActiveProcesses)],
    ['max-children-reached', int(s.maxChildrenReached)],
    ['slow-requests', int(s.slowRequests)],
    ['procs', `a:${s.processes.length}:{${s.processes.map((p, i) => int(i) + proc(p)).join('')}}`],
  ]);
  return Buffer.from(text, 'latin1');
}
