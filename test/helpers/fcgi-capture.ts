// A FastCGI responder that runs no PHP: it answers every request with the raw
// params it received, in arrival order, as a JSON array of [name, value] pairs
// (plus the size of the request body). Put a web server in front of it to see
// exactly what that web server sends, before any php-fpm/php-cgi rewriting.
import net from 'node:net';
import {
  RecordParser,
  RecordType,
  decodeBeginRequest,
  decodeParams,
  encodeEndRequest,
  encodeStream,
  type FcgiRecord,
} from '../../src/fastcgi/index.js';

export interface CapturedRequest {
  params: Array<[string, string]>;
  stdinBytes: number;
}

export interface FcgiCapture {
  port: number;
  close(): Promise<void>;
}

export function startFcgiCapture(): Promise<FcgiCapture> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const reqs = new Map<number, { keepConn: boolean; params: Buffer[]; stdin: number }>();
    const parser = new RecordParser((rec: FcgiRecord) => {
      const id = rec.requestId;
      if (rec.type === RecordType.BEGIN_REQUEST) {
        reqs.set(id, { keepConn: decodeBeginRequest(rec.content).keepConn, params: [], stdin: 0 });
        return;
      }
      const r = reqs.get(id);
      if (r === undefined) return;
      if (rec.type === RecordType.PARAMS) r.params.push(Buffer.from(rec.content));
      else if (rec.type === RecordType.STDIN && rec.content.length > 0) r.stdin += rec.content.length;
      else if (rec.type === RecordType.STDIN) {
        reqs.delete(id);
        const captured: CapturedRequest = { params: decodeParams(Buffer.concat(r.params)), stdinBytes: r.stdin };
        const out = Buffer.from(`Content-Type: application/json\r\n\r\n${JSON.stringify(captured)}`);
        sock.write(Buffer.concat([
          encodeStream(RecordType.STDOUT, id, out),
          encodeStream(RecordType.STDOUT, id, Buffer.alloc(0)),
          encodeEndRequest(id, 0, 0),
        ]));
        if (!r.keepConn) sock.end();
      }
    });
    sock.on('data', (chunk: Buffer) => {
      try {
        parser.execute(chunk);
      } catch {
        sock.destroy();
      }
    });
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('fcgi-capture: no TCP address'));
        return;
      }
      resolve({
        port: addr.port,
        close: () => new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}
