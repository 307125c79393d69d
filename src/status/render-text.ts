// Pure: the plain-text status page, php-fpm 8.2's layout (values at column 23).
import type { PoolStatus, ProcessStatus } from './snapshot.js';
import { fpmTime } from './clock.js';

const line = (label: string, value: string | number | bigint): string => `${`${label}:`.padEnd(22)}${value}\n`;

export function renderText(s: PoolStatus, full: boolean): string {
  let out = line('pool', s.pool) +
    line('process manager', s.processManager) +
    line('start time', fpmTime(s.startTime)) +
    line('start since', s.startSince) +
    line('accepted conn', s.acceptedConn) +
    line('listen queue', s.listenQueue) +
    line('max listen queue', s.maxListenQueue) +
    line('listen queue len', s.listenQueueLen) +
    line('idle processes', s.idleProcesses) +
    line('active processes', s.activeProcesses) +
    line('total processes', s.idleProcesses + s.activeProcesses) +
    line('max active processes', s.maxActiveProcesses) +
    line('max children reached', s.maxChildrenReached) +
    line('slow requests', s.slowRequests);
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
