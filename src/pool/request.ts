// One FastCGI request travelling from a web-server connection to a child.
import type { ClientConn } from './client-conn.js';
import type { Child } from './child.js';
import { decodeParams } from '../fastcgi/params.js';
import type { BodyIntake } from '../body/intake.js';

export class Request {
  /** Forwarded bytes held until a child is engaged. */
  pending: Buffer[] = [];
  /** tsfpm.request_buffering: the whole request, held until a child is engaged (src/body); null otherwise. */
  body: BodyIntake | null = null;
  private paramsBytes = 0;
  private paramsChunks: Buffer[] = [];
  private paramsCache: Map<string, string> | null = null;
  child: Child | null = null;
  paramsDone = false;
  dispatched = false;
  stdinDone = false;
  /** The web server went away; the child's reply is read and dropped. */
  aborted = false;
  /**
   * fastcgi_finish_request(): the web server has its whole reply (END_REQUEST
   * included); the child still runs the script, what it sends is dropped.
   */
  replied = false;
  finished = false;
  /** php-fpm would answer 404 "Primary script unknown" (src/request-env). */
  scriptUnknown = false;
  readonly acceptedAt = Date.now();
  /**
   * The reply when the master answers the request itself (status and ping
   * pages): written once the request is complete; its body is dropped.
   */
  local: Buffer | null = null;
  /** performance.now() when a child took it (or the master answered), and when it ended: the status page's durations. */
  startedAt = 0;
  endedAt = 0;

  /** The web server's connection still waits on this request (not gone, not replied to with its body all read). */
  get attached(): boolean {
    return !this.aborted && !(this.replied && this.stdinDone);
  }

  constructor(
    readonly client: ClientConn,
    readonly id: number,
    readonly role: number,
    readonly keepConn: boolean,
  ) {}

  /** Keeps a copy of a piece of the PARAMS stream; returns the total so far. */
  addParams(chunk: Buffer, start: number, end: number): number {
    const piece = Buffer.allocUnsafe(end - start);
    chunk.copy(piece, 0, start, end);
    this.paramsChunks.push(piece);
    this.paramsBytes += end - start;
    return this.paramsBytes;
  }

  /** The PARAMS stream's content as received (one buffer). */
  get paramsBody(): Buffer {
    if (this.paramsChunks.length !== 1) this.paramsChunks = [Buffer.concat(this.paramsChunks)];
    return this.paramsChunks[0];
  }

  /** Decoded lazily: the hot path never needs the params, status and logs do. */
  get params(): Map<string, string> {
    if (this.paramsCache === null) {
      const body = this.paramsBody;
      try {
        this.paramsCache = new Map(decodeParams(body));
      } catch {
        this.paramsCache = new Map();
      }
    }
    return this.paramsCache;
  }
}
