// Pure: the xml status page, php-fpm 8.2's bytes (one element per line, no
// final newline; times as epoch seconds).
import type { PoolStatus, ProcessStatus } from './snapshot.js';
import { phpHtmlEscape, plainMarkup } from './escape.js';

const el = (name: string, value: string | number | bigint): string => `<${name}>${value}</${name}>`;

export function renderXml(s: PoolStatus, full: boolean): string {
  const head = '<?xml version="1.0" ?>\n<status>\n' + [
    el('pool', plainMarkup(s.pool)),
    el('process-manager', s.processManager),
    el('start-time', s.startTime),
    el('start-since', s.startSince),
    el('accepted-conn', s.acceptedConn),
    el('listen-queue', s.listenQueue),
    el('max-listen-queue', s.maxListenQueue),
    el('listen-queue-len', s.listenQueueLen),
    el('idle-processes', s.idleProcesses),
    el('active-processes', s.activeProcesses),
    el('total-processes', s.idleProcesses + s.activeProcesses),
    el('max-active-processes', s.maxActiveProcesses),
    el('max-children-reached', s.maxChildrenReached),
    el('slow-requests', s.slowRequests),
  ].map((l) => `${l}\n`).join('');
  if (!full) return `${head}</status>`;
  return `${head}<processes>\n${s.processes.map(xmlProcess).join('')}</processes>\n</status>`;
}

/** The request URI as php-fpm's html and xml pages show it. */
export function markupUri(p: ProcessStatus): string {
  const uri = p.requestUri === '' ? '-' : phpHtmlEscape(p.requestUri);
  return p.queryString === '' ? uri : `${uri}?${phpHtmlEscape(p.queryString)}`;
}

function xmlProcess(p: ProcessStatus): string {
  return '<process>' +
    el('pid', p.pid) +
    el('state', p.state) +
    el('start-time', p.startTime) +
    el('start-since', p.startSince) +
    el('requests', p.requests) +
    el('request-duration', p.requestDuration) +
    el('request-method', plainMarkup(p.requestMethod)) +
    el('request-uri', markupUri(p)) +
    el('content-length', p.contentLength) +
    el('user', plainMarkup(p.user)) +
    el('script', plainMarkup(p.script)) +
    el('last-request-cpu', p.lastRequestCpu.toFixed(2)) +
    el('last-request-memory', p.lastRequestMemory) +
    '</process>\n';
}
