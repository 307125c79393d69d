// Pure: the dashboard a browser gets at `?html` (negotiate.ts): one HTML5
// page with everything inline, a stylesheet, the pool's snapshot and recent
// history as JSON data, and the script that draws them and then polls
// `?json&full`. Without script it shows php-fpm's own tables. A
// Content-Security-Policy allows exactly the page's own script and style (by
// hash) and fetches to the same site, so even a value that slipped through
// escaping could not run.
import { createHash } from 'node:crypto';
import type { PoolStatus } from '../snapshot.js';
import { phpJsonEscape, plainMarkup } from '../escape.js';
import { renderJson } from '../render-json.js';
import { htmlTables } from '../render-html.js';
import type { HistoryPoint } from './history.js';
import { DASHBOARD_CSS } from './style.js';
import { DASHBOARD_JS } from './client.js';

export interface DashboardInput {
  /** Collected with every process (full). */
  status: PoolStatus;
  history: readonly HistoryPoint[];
  /** php-fpm's request_uri of this status request: the child shown serving it is marked as such. */
  selfUri: string;
  nowMs: number;
}

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s, 'latin1').digest('base64')}'`;

/** Headers the dashboard adds to php-fpm's (after Content-Type). */
export const DASHBOARD_HEADERS =
  `Content-Security-Policy: default-src 'none'; script-src ${sha256(DASHBOARD_JS)}; style-src ${sha256(DASHBOARD_CSS)}; ` +
  "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'\r\n" +
  'X-Content-Type-Options: nosniff\r\n' +
  'Referrer-Policy: no-referrer\r\n';

/**
 * The embedded data: {now, self, history: [[t, accepted, active, queue]...],
 * status: php-fpm's json&full}. Every `<` as \u003c, so nothing in it can end
 * the <script> element that holds it or open a comment there.
 */
export function dashboardData(i: DashboardInput): string {
  const history = i.history.map((p) => `[${p.t},${p.accepted},${p.active},${p.queue}]`).join(',');
  const json = `{"now":${i.nowMs},"self":"${phpJsonEscape(i.selfUri)}","history":[${history}],"status":${renderJson(i.status, true)}}`;
  return json.replace(/</g, '\\u003c');
}

export function renderDashboard(i: DashboardInput): string {
  const pool = plainMarkup(i.status.pool);
  return '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    '<meta name="color-scheme" content="light dark">\n' +
    '<link rel="icon" href="data:,">\n' +
    `<title>${pool} &middot; tsfpm status</title>\n` +
    `<style>${DASHBOARD_CSS}</style>\n</head>\n<body>\n` +
    '<header class="top"><div class="brand">tsfpm <span>status</span></div>' +
    '<div id="live" class="live"><span class="dot"></span><span id="live-text">loading&hellip;</span></div>' +
    '<nav class="links"><a href="?html&amp;classic">php-fpm page</a><a href="?json&amp;full">json</a>' +
    '<a href="?openmetrics">openmetrics</a></nav></header>\n' +
    '<div id="banner" class="banner" role="alert" hidden></div>\n' +
    '<main id="pools"></main>\n' +
    `<noscript><main><p>Without JavaScript this page does not refresh; reload it for new figures.</p>\n${htmlTables(i.status, true)}\n</main></noscript>\n` +
    '<footer>Refreshes every 2 s from each pool\'s json status page. Requests per second come from ' +
    '<i>accepted conn</i>, which counts every request the pool read, status polls included; busy children leave out ' +
    'the one php-fpm shows serving the status request itself.</footer>\n' +
    `<script type="application/json" id="tsfpm-status">${dashboardData(i)}</script>\n` +
    `<script type="text/javascript">${DASHBOARD_JS}</script>\n` +
    '</body>\n</html>\n';
}
