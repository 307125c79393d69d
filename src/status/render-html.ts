// Pure: the html status page, php-fpm 8.2's bytes (XHTML 1.0 Strict, a
// two-column table, a bordered table of processes for ?full).
import type { PoolStatus, ProcessStatus } from './snapshot.js';
import { plainMarkup } from './escape.js';
import { markupUri } from './render-xml.js';
import { fpmTime } from './clock.js';
import { poolRows } from './render-text.js';

const HEAD = '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n' +
  '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n' +
  '<head><title>PHP-FPM Status Page</title></head>\n' +
  '<body>\n';

const COLUMNS = ['pid', 'state', 'start time', 'start since', 'requests', 'request duration', 'request method',
  'request uri', 'content length', 'user', 'script', 'last request cpu', 'last request memory'];

const row = (label: string, value: string | number): string => `<tr><th>${label}</th><td>${value}</td></tr>\n`;

export function renderHtml(s: PoolStatus, full: boolean): string {
  return `${HEAD}${htmlTables(s, full)}</body></html>`;
}

/** The page's tables: the pool's, and for ?full the processes' (also the dashboard's fallback without script). */
export function htmlTables(s: PoolStatus, full: boolean): string {
  // The pool name is the one value that needs escaping in html.
  const pool = '<table>\n' +
    poolRows(s).map(([label, value]) => row(label, label === 'pool' ? plainMarkup(s.pool) : String(value))).join('') +
    '</table>\n';
  if (!full) return pool;
  return `${pool}<table border="1">\n<tr>${COLUMNS.map((c) => `<th>${c}</th>`).join('')}</tr>\n` +
    `${s.processes.map(htmlProcess).join('')}</table>`;
}

function htmlProcess(p: ProcessStatus): string {
  const cells = [p.pid, p.state, fpmTime(p.startTime), p.startSince, p.requests, p.requestDuration,
    plainMarkup(p.requestMethod), markupUri(p), p.contentLength, plainMarkup(p.user), plainMarkup(p.script),
    p.lastRequestCpu.toFixed(2), p.lastRequestMemory];
  return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>\n`;
}
