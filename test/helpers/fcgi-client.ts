// A small FastCGI client for tests, built on the codec. One request at a time per
// socket (that is all php-cgi and php-fpm serve).

import net from 'node:net';
import path from 'node:path';
import {
  FLAG_KEEP_CONN,
  RecordParser,
  RecordType,
  Role,
  decodeEndRequest,
  encodeBeginRequest,
  encodeParams,
  encodeStream,
  type FcgiRecord,
} from '../../src/fastcgi/index.js';

export type Target = { host: string; port: number } | { path: string };

export interface FcgiRequestOptions {
  stdin?: Buffer;
  /** Send FCGI_KEEP_CONN; the socket is left open only when the caller passed it in. */
  keepConn?: boolean;
  /** Use this connected socket instead of opening one (keep-alive sequences). */
  socket?: net.Socket;
  requestId?: number;
  timeoutMs?: number;
}

export interface FcgiResponse {
  stdout: Buffer;
  stderr: string;
  appStatus: number;
  protocolStatus: number;
  /** CGI head of stdout, names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** From the `Status:` header, 200 without one. */
  status: number;
  body: Buffer;
}

export function connect(target: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(sock);
    });
    sock.once('error', reject);
  });
}

/** Split a CGI response into head and body (head ends at the first blank line). */
export function parseCgiResponse(stdout: Buffer): { headers: Record<string, string>; status: number; body: Buffer } {
  let end = stdout.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = stdout.indexOf('\n\n');
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end < 0) return { headers: {}, status: 200, body: stdout };
  const headers: Record<string, string> = {};
  for (const line of stdout.toString('latin1', 0, end).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const status = headers['status'] !== undefined ? Number.parseInt(headers['status'], 10) : 200;
  return { headers, status: Number.isNaN(status) ? 200 : status, body: stdout.subarray(end + sep) };
}

export async function fcgiRequest(
  target: Target,
  params: Record<string, string>,
  opts: FcgiRequestOptions = {},
): Promise<FcgiResponse> {
  const id = opts.requestId ?? 1;
  const ownSocket = opts.socket === undefined;
  const sock = opts.socket ?? (await connect(target));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const stdin = opts.stdin ?? Buffer.alloc(0);

  return new Promise<FcgiResponse>((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let done = false;
    const timer = setTimeout(() => finish(new Error(`FastCGI request timed out after ${timeoutMs} ms`)), timeoutMs);

    const finish = (err: Error | null, res?: FcgiResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
      if (ownSocket || err) sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const onRecord = (rec: FcgiRecord): void => {
      if (rec.requestId !== id) return;
      if (rec.type === RecordType.STDOUT) stdout.push(Buffer.from(rec.content));
      else if (rec.type === RecordType.STDERR) stderr.push(Buffer.from(rec.content));
      else if (rec.type === RecordType.END_REQUEST) {
        const end = decodeEndRequest(rec.content);
        const out = Buffer.concat(stdout);
        finish(null, {
          stdout: out,
          stderr: Buffer.concat(stderr).toString('utf8'),
          appStatus: end.appStatus,
          protocolStatus: end.protocolStatus,
          ...parseCgiResponse(out),
        });
      }
    };
    const parser = new RecordParser(onRecord);
    const onData = (chunk: Buffer): void => {
      try {
        parser.execute(chunk);
      } catch (e) {
        finish(e as Error);
      }
    };
    const onError = (e: Error): void => finish(e);
    const onClose = (): void => finish(new Error('connection closed before END_REQUEST'));
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);

    const flags = opts.keepConn ? FLAG_KEEP_CONN : 0;
    const pairs = encodeParams(Object.entries(params));
    sock.write(
      Buffer.concat([
        encodeBeginRequest(id, Role.RESPONDER, flags),
        ...(pairs.length > 0 ? [encodeStream(RecordType.PARAMS, id, pairs)] : []),
        encodeStream(RecordType.PARAMS, id, Buffer.alloc(0)),
        ...(stdin.length > 0 ? [encodeStream(RecordType.STDIN, id, stdin)] : []),
        encodeStream(RecordType.STDIN, id, Buffer.alloc(0)),
      ]),
    );
  });
}

/**
 * Send raw bytes and collect whatever comes back until the peer closes (closed: true)
 * or the timeout passes (closed: false). For malformed-input tests.
 */
export async function rawExchange(
  target: Target,
  bytes: Buffer,
  timeoutMs: number,
): Promise<{ data: Buffer; closed: boolean }> {
  const sock = await connect(target);
  return new Promise((resolve) => {
    const data: Buffer[] = [];
    let settled = false;
    const settle = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(data), closed });
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    sock.on('data', (c: Buffer) => data.push(c));
    // A reset (ECONNRESET) is also the peer closing on us.
    sock.on('error', () => settle(true));
    sock.on('end', () => settle(true));
    sock.on('close', () => settle(true));
    sock.write(bytes);
  });
}

/**
 * Params as nginx sends them with Debian's fastcgi_params plus the usual
 * SCRIPT_FILENAME line (~20 params). `uri` may carry a query string.
 */
export function scriptParams(docroot: string, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const q = uri.indexOf('?');
  const scriptName = q >= 0 ? uri.slice(0, q) : uri;
  const query = q >= 0 ? uri.slice(q + 1) : '';
  return {
    SCRIPT_FILENAME: path.join(docroot, scriptName),
    QUERY_STRING: query,
    REQUEST_METHOD: 'GET',
    CONTENT_TYPE: '',
    CONTENT_LENGTH: '',
    SCRIPT_NAME: scriptName,
    REQUEST_URI: uri,
    DOCUMENT_URI: scriptName,
    DOCUMENT_ROOT: docroot,
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_SCHEME: 'http',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nginx/1.22.1',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '54321',
    SERVER_ADDR: '127.0.0.1',
    SERVER_PORT: '80',
    SERVER_NAME: 'localhost',
    REDIRECT_STATUS: '200',
    HTTP_HOST: 'localhost',
    HTTP_USER_AGENT: 'tsfpm-test/1.0',
    HTTP_ACCEPT: '*/*',
    ...extra,
  };
}
