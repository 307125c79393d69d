// Minimal HTTP client for tests: one fresh connection per request unless an agent is given.
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body decoded as UTF-8. */
  body: string;
  raw: Buffer;
}

export interface HttpOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  /** Whole-request deadline (connect to last byte); default 10 s. */
  timeoutMs?: number;
  /** false (default) = a new connection per request, so tests see no client-side pooling. */
  agent?: http.Agent | false;
}

export function httpRequest(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  if (opts.body !== undefined && headers['content-length'] === undefined) {
    headers['content-length'] = Buffer.byteLength(opts.body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), raw });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    req.on('error', fail);
    req.end(opts.body);
  });
}

export function httpGet(url: string, opts: Omit<HttpOptions, 'method' | 'body'> = {}): Promise<HttpResponse> {
  return httpRequest(url, { ...opts, method: 'GET' });
}
