// A pool's ping and status pages, answered by the master. php-fpm checks them
// in its worker right after reading the request (fpm_status_handle_request):
// only when REQUEST_METHOD is present, ping first, then status, each an exact
// match of request_uri (SCRIPT_NAME after php-fpm's path fix-ups, not
// REQUEST_URI, no query) and before any script or limit_extensions check.
import type { PoolConfig } from '../config/types.js';
import type { Child } from '../pool/child.js';
import type { Request } from '../pool/request.js';
import { collectStatus, type StatusSource } from './collect.js';
import { parseStatusQuery } from './query.js';
import { render } from './render.js';
import { DEFAULT_SAPI, pingReply, statusReply, type SapiHeaders } from './reply.js';
import { StatusHistory } from './dashboard/history.js';
import { wantsDashboard } from './dashboard/negotiate.js';
import { DASHBOARD_HEADERS, renderDashboard } from './dashboard/page.js';

export class StatusResponder {
  /** The headers PHP would add (expose_php, default_charset...): set once php-cgi was asked. */
  sapi: SapiHeaders = DEFAULT_SAPI;
  private readonly statusPath: string | null;
  private readonly pingPath: string | null;
  private readonly pingResponse: string | null;
  /** The dashboard's last minutes (src/status/dashboard/history.ts); null without a status page. */
  readonly history: StatusHistory | null;

  private constructor(cfg: PoolConfig) {
    this.statusPath = cfg.pmStatusPath !== '' ? cfg.pmStatusPath : null;
    this.pingPath = cfg.pingPath !== '' && cfg.pingResponse !== null ? cfg.pingPath : null;
    this.pingResponse = cfg.pingResponse;
    this.history = this.statusPath !== null ? new StatusHistory() : null;
  }

  /** null when the pool has neither page. */
  static for(cfg: PoolConfig): StatusResponder | null {
    const r = new StatusResponder(cfg);
    return r.statusPath === null && r.pingPath === null ? null : r;
  }

  /** True when `uri` (php-fpm's request_uri) names one of the pages. */
  matches(uri: string): boolean {
    return uri === this.pingPath || uri === this.statusPath;
  }

  /**
   * The reply to `req` when it asks for one of the pages, else null (the
   * request goes to PHP). `server`: the child shown serving it (collect.ts).
   */
  answer(uri: string, req: Request, src: StatusSource, server: Child | null): Buffer | null {
    if (!this.matches(uri)) return null;
    const params = req.params;
    const method = params.get('REQUEST_METHOD');
    if (method === undefined) return null; // "certainly not an HTTP over fcgi request": no page
    const head = method === 'HEAD';
    if (uri === this.pingPath) return pingReply(req.id, this.pingResponse!, head, this.sapi);
    // php-fpm reads the query only when the request names a script path.
    const hasScriptPath = params.has('SCRIPT_FILENAME') || params.has('PATH_TRANSLATED');
    const query = hasScriptPath ? params.get('QUERY_STRING') : undefined;
    const q = parseStatusQuery(query);
    // A browser asking for ?html gets the dashboard; everyone else php-fpm's page (dashboard/negotiate.ts).
    const dashboard = q.format === 'html' && !head && wantsDashboard(params.get('HTTP_ACCEPT'), query);
    req.startedAt = performance.now();
    const nowMs = Date.now();
    const snapshot = collectStatus(src, { full: q.full || dashboard, server, statusReq: req, nowMs, nowPerf: performance.now() });
    if (dashboard) {
      const page = renderDashboard({ status: snapshot, history: this.history?.points() ?? [], selfUri: uri, nowMs });
      return statusReply(req.id, 'html', page, this.sapi, DASHBOARD_HEADERS);
    }
    return statusReply(req.id, q.format, head ? null : render(snapshot, q.format, q.full), this.sapi);
  }
}
