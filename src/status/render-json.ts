// Pure: the json status page, php-fpm 8.2's bytes: one line, keys with
// spaces, times as epoch seconds, `, "processes":[...]` for ?full. Prometheus
// exporters (hipages/php-fpm_exporter) parse exactly this shape.
import type { PoolStatus, ProcessStatus } from './snapshot.js';
import { phpJsonEscape, plainJson } from './escape.js';

export function renderJson(s: PoolStatus, full: boolean): string {
  const head = `{"pool":"${plainJson(s.pool)}","process manager":"${s.processManager}",` +
    `"start time":${s.startTime},"start since":${s.startSince},"accepted conn":${s.acceptedConn},` +
    `"listen queue":${s.listenQueue},"max listen queue":${s.maxListenQueue},"listen queue len":${s.listenQueueLen},` +
    `"idle processes":${s.idleProcesses},"active processes":${s.activeProcesses},` +
    `"total processes":${s.idleProcesses + s.activeProcesses},"max active processes":${s.maxActiveProcesses},` +
    `"max children reached":${s.maxChildrenReached},"slow requests":${s.slowRequests}`;
  if (!full) return `${head}}`;
  return `${head}, "processes":[${s.processes.map(jsonProcess).join(',')}]}`;
}

function jsonProcess(p: ProcessStatus): string {
  const uri = p.requestUri === '' ? '-' : phpJsonEscape(p.requestUri);
  const query = p.queryString === '' ? '' : `?${phpJsonEscape(p.queryString)}`;
  return `{"pid":${p.pid},"state":"${p.state}","start time":${p.startTime},"start since":${p.startSince},` +
    `"requests":${p.requests},"request duration":${p.requestDuration},"request method":"${plainJson(p.requestMethod)}",` +
    `"request uri":"${uri}${query}","content length":${p.contentLength},"user":"${plainJson(p.user)}",` +
    `"script":"${plainJson(p.script)}","last request cpu":${p.lastRequestCpu.toFixed(2)},` +
    `"last request memory":${p.lastRequestMemory}}`;
}
