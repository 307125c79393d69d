// Pure: the plain-text status page, php-fpm 8.2's layout (values at column 23).
import type { PoolStatus, ProcessStatus } from './snapshot.js';
import { fpmTime } from './clock.js';

const line = (label: string, value: string | number | bigint): string => `${`${label}:`.padEnd(22)}${value}\n`;

/** The pool's fields as php-fpm's text and html pages label and order them. */
export function poolRows(s: PoolStatus): Array<[string, string | number | bigint]> {
  return [
    ['pool', s.pool],
    ['process manager', s.processManager],
    ['start time', fpmTime(s.startTime)],
    ['start since', s.startSince],
    ['accepted conn', s.acceptedConn],
    ['listen queue', s.listenQueue],
    ['max listen queue', s.maxListenQueue],
    ['listen queue len', s.listenQueueLen],
    ['idle processes', s.idleProcesses],
    ['active processes', s.activeProcesses],
    ['total processes', s.idleProcesses + s.activeProcesses],
    ['max active processes', s.maxActiveProcesses],
    ['max children reached', s.maxChildrenReached],
    ['slow requests', s.slowRequests],
  ];
}

export function renderText(s: PoolStatus, full: boolean): string {
  let out = poolRows(s).map(([label, value]) => line(label, value)).join('');
  if (full) for (const p of s.processes) out += textProcess(p);
  return out;
}

function textProcess(p: ProcessStatus): string {
  return '\n************************\n' +
    line('pid', p.pid) +
    line('state', p.state) +
    line('start time', fpmTime(p.startTime)) +
    line('start since', p.startSince) +
    line('requests', p.requests) +
    line('request duration', p.requestDuration) +
    line('request method', p.requestMethod) +
    line('request URI', `${p.requestUri === '' ? '-' : p.requestUri}${p.queryString === '' ? '' : `?${p.queryString}`}`) +
    line('content length', p.contentLength) +
    line('user', p.user) +
    line('script', p.script) +
    line('last request cpu', p.lastRequestCpu.toFixed(2)) +
    line('last request memory', p.lastRequestMemory);
}
