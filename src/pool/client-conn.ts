// One web-server connection (nginx, Apache, cgi-fcgi...). Frames its records
// without copying, builds a Request per BEGIN_REQUEST and forwards that
// request's records to a child byte for byte; the only change made on the way
// is FCGI_KEEP_CONN in BEGIN_REQUEST, so that tsfpm's connection to the child
// outlives the request. Requests on one connection are served in order.
import type { FrontSocket } from '../net/front-socket.js';
import { RecordScanner, type ScanSink } from '../fastcgi/scanner.js';
import { RecordType, FLAG_KEEP_CONN, BEGIN_REQUEST_BODY_LEN } from '../fastcgi/constants.js';
import { answerGetValues } from '../fastcgi/get-values.js';
import { FastCgiProtocolError } from '../fastcgi/errors.js';
import { Request } from './request.js';
import type { Child } from './child.js';

// nginx sends a few KiB of params; a client streaming megabytes is not a web server.
const MAX_PARAMS_BYTES = 1 << 20;
// Up to this much of a queued request is copied out of the read buffer.
const COPY_PENDING_MAX = 16 * 1024;

export interface RequestSink {
  dispatch(req: Request): void;
  abort(req: Request): void;
  protocolError(conn: ClientConn, reason: string): void;
  /** The connection a child was reserved for brought no request (yet) or left. */
  releaseReserved(conn: ClientConn): void;
}

export class ClientConn implements ScanSink {
  private readonly scanner = new RecordScanner(this);
  req: Request | null = null;
  /** A child held for this connection's first request (Pool.onConnection). */
  reserved: Child | null = null;
  reservedAt = 0;
  private stash: Buffer | null = null;
  private closed = false;
  // Current record.
  private recType = 0;
  private recId = 0;
  private recLen = 0;
  private seen = 0;
  private fwd = false;
  private role = 0;
  private keep = false;
  private capture: Buffer[] | null = null;
  // Bytes of the current chunk to forward: [seg, ...), plus finished pieces.
  private seg = -1;
  private out: Buffer[] = [];
  private chunk: Buffer = Buffer.alloc(0);

  constructor(readonly sock: FrontSocket, private sink: RequestSink) {
    sock.onData = (c: Buffer) => this.onData(c);
    sock.onClose = () => this.onClose();
  }

  /** Reload: the connection's next requests go to the pool that replaced its own. */
  moveTo(sink: RequestSink): void {
    this.sink = sink;
  }

  private onData(chunk: Buffer): void {
    // No pipelining into a child: input after a request's end waits for its reply.
    if (this.stash !== null || (this.req !== null && this.req.stdinDone)) {
      // Copied: chunk is a view of the socket's read buffer (rare path).
      this.stash = this.stash === null ? Buffer.from(chunk) : Buffer.concat([this.stash, chunk]);
      return;
    }
    this.process(chunk);
  }

  private process(chunk: Buffer): void {
    let stop: number;
    // A forwarded record continuing from the previous chunk starts the segment.
    this.seg = this.fwd && this.scanner.midRecord ? 0 : -1;
    this.chunk = chunk;
    try {
      stop = this.scanner.scan(chunk, 0);
    } catch (err) {
      this.fail(err instanceof FastCgiProtocolError ? err.message : String(err));
      return;
    }
    if (this.closed) return;
    const end = this.scanner.partialHeaderStart >= 0 ? this.scanner.partialHeaderStart : stop;
    if (this.seg >= 0 && end > this.seg) this.out.push(chunk.subarray(this.seg, end));
    this.seg = -1;
    const req = this.req;
    if (req !== null && this.out.length > 0) {
      if (req.child !== null) req.child.send(this.out, this.sock);
      else if (!req.aborted && req.local === null) {
        if (req.body !== null) req.body.take(this.out); // received whole first (src/body)
        else for (const b of this.out) req.pending.push(b);
      }
      this.out = [];
    }
    if (stop < chunk.length) this.stash = Buffer.from(chunk.subarray(stop));
    // fastcgi_finish_request() answered it before its body was all read: the body went on to the child, now the next request.
    if (req !== null && req.replied && req.stdinDone) { this.requestFinished(req); return; }
    if (req !== null && req.paramsDone && !req.dispatched) {
      req.dispatched = true;
      this.sink.dispatch(req);
    }
    if (req !== null && req.local !== null) {
      // Answered by the master (status, ping): the rest of the request is read and dropped.
      if (req.stdinDone) this.replyLocal(req);
      return;
    }
    // The first read did not complete a request: the reserved child goes back.
    if (this.reserved !== null) this.sink.releaseReserved(this);
    if (req !== null && req.child === null && !req.aborted && req.body === null) {
      if (req.pending.length > 0) this.keepPending(req, chunk);
      // Queued for a busy pool: the rest of the body waits in the kernel, as
      // it does in php-fpm's listen backlog, instead of in the master.
      if (req.paramsDone && !req.stdinDone) this.sock.pause();
    }
  }

  /**
   * The request waits for a child, holding views of the socket's read buffer:
   * a few KiB (params, a small body) are copied, a large body keeps the
   * buffer itself and the socket reads on into a new one.
   */
  private keepPending(req: Request, chunk: Buffer): void {
    const ab = chunk.buffer;
    let bytes = 0;
    for (const b of req.pending) if (b.buffer === ab) bytes += b.length;
    if (bytes === 0) return;
    if (bytes > COPY_PENDING_MAX) { this.sock.retain(); return; }
    for (let i = 0; i < req.pending.length; i++) {
      const b = req.pending[i];
      if (b.buffer === ab) req.pending[i] = Buffer.from(b);
    }
  }

  onHeader(type: number, requestId: number, contentLength: number, _padding: number, headerStart: number, afterHeader: number): void {
    this.recType = type;
    this.recId = requestId;
    this.recLen = contentLength;
    this.seen = 0;
    this.capture = null;
    const req = this.req;
    let fwd: boolean;
    if (req === null) {
      if (type === RecordType.BEGIN_REQUEST) {
        if (contentLength < BEGIN_REQUEST_BODY_LEN) throw new FastCgiProtocolError('FCGI_ERR_BAD_BODY', 'short BEGIN_REQUEST');
        fwd = true;
      } else if (type === RecordType.GET_VALUES) {
        fwd = false;
        this.capture = [];
      } else if (type === RecordType.STDIN && contentLength === 0) {
        fwd = false; // php-fpm skips empty STDIN records between requests
      } else {
        throw new FastCgiProtocolError('FCGI_ERR_UNEXPECTED', `unexpected record type ${type} outside a request`);
      }
    } else {
      if (type === RecordType.BEGIN_REQUEST) throw new FastCgiProtocolError('FCGI_ERR_MULTIPLEX', 'BEGIN_REQUEST inside a request (no multiplexing)');
      fwd = type === RecordType.PARAMS || type === RecordType.STDIN || type === RecordType.DATA;
      // Any other record silently ends PARAMS, as in php-fpm.
      if (type !== RecordType.PARAMS) req.paramsDone = true;
    }
    this.fwd = fwd;
    if (fwd) {
      if (headerStart >= 0) {
        if (this.seg < 0) this.seg = headerStart;
      } else {
        this.out.push(Buffer.from(this.scanner.header));
        this.seg = afterHeader;
      }
    } else if (this.seg >= 0) {
      this.out.push(this.chunk.subarray(this.seg, headerStart));
      this.seg = -1;
    }
  }

  onContent(chunk: Buffer, start: number, end: number): void {
    const t = this.recType;
    if (t === RecordType.BEGIN_REQUEST && this.req === null) {
      for (let i = start; i < end; i++) {
        const off = this.seen + (i - start);
        if (off === 0) this.role = chunk[i] << 8;
        else if (off === 1) this.role |= chunk[i];
        else if (off === 2) {
          this.keep = (chunk[i] & FLAG_KEEP_CONN) !== 0;
          chunk[i] |= FLAG_KEEP_CONN; // tsfpm keeps its child connections open
          break;
        }
      }
    } else if (t === RecordType.PARAMS && this.req !== null) {
      if (this.req.addParams(chunk, start, end) > MAX_PARAMS_BYTES) {
        throw new FastCgiProtocolError('FCGI_ERR_TOO_LONG', `PARAMS over ${MAX_PARAMS_BYTES} bytes`);
      }
    } else if (this.capture !== null) {
      this.capture.push(Buffer.from(chunk.subarray(start, end)));
    }
    this.seen += end - start;
  }

  onRecordEnd(type: number): boolean {
    if (type === RecordType.BEGIN_REQUEST && this.req === null) {
      if (this.role < 1 || this.role > 3) throw new FastCgiProtocolError('FCGI_ERR_ROLE', `unknown role ${this.role}`);
      this.req = new Request(this, this.recId, this.role, this.keep);
      if (this.out.length > 0) { this.req.pending.push(...this.out); this.out = []; }
    } else if (type === RecordType.PARAMS && this.recLen === 0 && this.req !== null) {
      this.req.paramsDone = true;
    } else if (type === RecordType.STDIN && this.recLen === 0 && this.req !== null) {
      this.req.stdinDone = true;
      return false;
    } else if (type === RecordType.GET_VALUES && this.capture !== null) {
      this.sock.write(answerGetValues(Buffer.concat(this.capture)));
      this.capture = null;
    }
    return true;
  }

  /** The child delivered END_REQUEST for req (already written to the socket). */
  requestFinished(req: Request): void {
    if (this.req !== req) return;
    this.req = null;
    if (!req.keepConn) { this.close(); return; }
    while (this.stash !== null && this.req === null && !this.closed) {
      const s: Buffer = this.stash;
      this.stash = null;
      this.process(s);
    }
  }

  /** Writes the master's own reply to a complete request, then goes on as after a child's. */
  private replyLocal(req: Request): void {
    const reply = req.local!;
    req.local = null;
    req.finished = true;
    this.sock.write(reply);
    this.requestFinished(req);
  }

  get isClosed(): boolean { return this.closed; }

  /** Ends the connection once everything written has been flushed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }

  private fail(reason: string): void {
    this.sink.protocolError(this, reason);
    this.closed = true;
    this.sock.destroy();
    this.onClose();
  }

  private onClose(): void {
    this.closed = true;
    if (this.reserved !== null) this.sink.releaseReserved(this);
    const req = this.req;
    if (req !== null && !req.finished && !req.aborted) {
      req.aborted = true;
      req.pending = [];
      this.sink.abort(req);
    }
  }
}
