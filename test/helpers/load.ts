// A bounded HTTP load on loopback: `concurrency` loops sending requests one
// after another until stop() (or `maxMs`), counting every answer by status
// and every socket error. Requests alternate GET and a small POST, so that
// bodies are in flight too.
import http from 'node:http';

export interface LoadResult {
  requests: number;
  ok: number;
  /** Status codes other than 2xx, with their counts. */
  non2xx: Map<number, number>;
  /** Socket errors and timeouts (message → count). */
  errors: Map<string, number>;
  /** Bodies seen, for checks on what served them (e.g. a setting in force). */
  lastBodies: string[];
  /** 2xx answers whose body failed `check`. */
  badBodies: string[];
  /** The slowest answer, in ms. */
  maxMs: number;
}

export interface LoadOptions {
  url: string;
  concurrency: number;
  /** Client-side keep-alive to the web server (default true). */
  keepAlive?: boolean;
  /** Body check for 2xx answers (default: any). */
  check?: (body: string) => boolean;
  postBytes?: number;
  /** Safety bound: the loops end on their own after this long. */
  maxMs?: number;
  timeoutMs?: number;
}

export interface Load {
  stop(): Promise<LoadResult>;
  /** Requests answered so far. */
  readonly count: number;
}

export function startLoad(o: LoadOptions): Load {
  const agent = new http.Agent({ keepAlive: o.keepAlive ?? true, maxSockets: o.concurrency });
  const result: LoadResult = { requests: 0, ok: 0, non2xx: new Map(), errors: new Map(), lastBodies: [], badBodies: [], maxMs: 0 };
  const post = Buffer.alloc(o.postBytes ?? 2048, 'x');
  const deadline = Date.now() + (o.maxMs ?? 60_000);
  let stopped = false;
  const bump = (m: Map<string, number> | Map<number, number>, k: never): void => {
    (m as Map<unknown, number>).set(k, ((m as Map<unknown, number>).get(k) ?? 0) + 1);
  };
  const one = (n: number): Promise<void> => new Promise((resolve) => {
    const isPost = n % 2 === 1;
    const t0 = performance.now();
    const req = http.request(o.url, {
      agent, method: isPost ? 'POST' : 'GET',
      headers: isPost ? { 'content-type': 'application/octet-stream', 'content-length': post.length } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => { bump(result.errors, e.message as never); resolve(); });
      res.on('end', () => {
        clearTimeout(timer);
        result.requests++;
        result.maxMs = Math.max(result.maxMs, performance.now() - t0);
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8');
        if (status >= 200 && status < 300) {
          result.ok++;
          if (o.check !== undefined && !o.check(body)) result.badBodies.push(body);
          result.lastBodies.push(body);
          if (result.lastBodies.length > 50) result.lastBodies.shift();
        } else bump(result.non2xx, status as never);
        resolve();
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000);
    req.on('error', (e) => { clearTimeout(timer); result.requests++; bump(result.errors, e.message as never); resolve(); });
    req.end(isPost ? post : undefined);
  });
  const loops = Array.from({ length: o.concurrency }, async (_, i) => {
    for (let n = i; !stopped && Date.now() < deadline; n++) await one(n);
  });
  const all = Promise.all(loops);
  return {
    get count() { return result.requests; },
    async stop() {
      stopped = true;
      await all;
      agent.destroy();
      return result;
    },
  };
}

/** One line for assertion messages. */
export function describeLoad(r: LoadResult): string {
  return `${r.requests} requests (slowest ${Math.round(r.maxMs)} ms), ${r.ok} 2xx, non-2xx ${JSON.stringify([...r.non2xx])}, errors ${JSON.stringify([...r.errors])}, bad bodies ${r.badBodies.length}`;
}
