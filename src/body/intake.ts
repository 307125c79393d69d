// One request received whole before a child is engaged (tsfpm.request_buffering).
// Takes the request's FastCGI records as the web server sent them (from
// BEGIN_REQUEST to the empty STDIN record), keeps up to MEMORY_MAX bytes in
// memory (within the budget all held requests share, pieces.ts) and the rest
// in a spool file, runs STDIN through the multipart
// check, and tells its owner once the request is complete (or refused). Then
// delivers exactly those bytes to the child, from memory and from the file,
// at the pace the child reads them.
import { RecordScanner, type ScanSink } from '../fastcgi/scanner.js';
import { RecordType } from '../fastcgi/constants.js';
import type { FrontSocket } from '../net/front-socket.js';
import { MultipartCheck } from './multipart-check.js';
import { Spool, type BodySink } from './spool.js';
import { MEMORY_MAX, PIECE, givePiece, releaseMemory, reserveMemory, takePiece } from './pieces.js';
import { PartTally, type Refusal, type UploadPlan } from './upload-rules.js';
import type { BodyLimits } from './limits.js';

export interface IntakeOwner {
  /** The whole request is held: a child can take it. */
  ready(): void;
  /** The body passed a limit: answer 413 (the rest of the request is read and dropped). */
  refused(r: Refusal): void;
  /** The spool failed (disk full...): the request cannot be served. */
  failed(err: Error): void;
}

const noRecord = -1;

export class BodyIntake implements ScanSink {
  private readonly scanner = new RecordScanner(this);
  /** The request's first bytes, in pieces reserved from the memory budget. */
  private head: Buffer[] = [];
  private headBytes = 0;
  /** The head's pieces while a write of them may still be in flight. */
  private wire: Buffer[] | null = null;
  private spool: Spool | null = null;
  private readonly check: MultipartCheck | null;
  private recType = noRecord;
  private recLen = 0;
  private complete = false;
  /** receiving -> held (ready() called) -> delivering -> over; or over early (refused, failed, disposed). */
  private state: 'receiving' | 'held' | 'delivering' | 'over' = 'receiving';
  /** The web server's connection, paused while the disk lags behind. */
  private paused: FrontSocket | null = null;
  private sentAll = false;

  constructor(
    plan: Extract<UploadPlan, { kind: 'pass' | 'check' }>,
    limits: BodyLimits | null,
    private readonly spoolDir: string,
    private readonly source: FrontSocket,
    private readonly owner: IntakeOwner,
  ) {
    this.check = plan.kind === 'check' && limits !== null ? new MultipartCheck(plan.boundary, plan.contentLength, new PartTally(limits)) : null;
  }

  /** True until ready(), refused() or failed() was called. */
  get receiving(): boolean { return this.state === 'receiving'; }

  /** Every byte of the request went to the child (a child that ends the request earlier is out of step). */
  get delivered(): boolean { return this.sentAll; }

  /** The request's bytes as forwarded, in order; views valid only during the call (copied). */
  take(bufs: readonly Buffer[]): void {
    for (const b of bufs) {
      if (this.state !== 'receiving') return;
      try {
        this.scanner.scan(b, 0);
      } catch {
        // ClientConn framed these same bytes already; cannot happen.
      }
      if (this.state !== 'receiving') return; // refused by the check
      this.store(b);
    }
    if (this.complete && this.state === 'receiving') this.finishReceiving();
  }

  private store(b: Buffer): void {
    if (this.spool === null && this.keepInMemory(b)) return;
    if (this.spool === null) {
      try {
        this.spool = new Spool(this.spoolDir);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.spool.onDrain = () => this.resumeSource();
    }
    if (!this.spool.append(b) && this.paused === null && !this.complete) {
      this.paused = this.source;
      this.source.pause();
    }
  }

  /** Copies b into the head if it fits there and in the shared budget. */
  private keepInMemory(b: Buffer): boolean {
    if (this.headBytes + b.length > MEMORY_MAX) return false;
    const room = this.head.length * PIECE - this.headBytes;
    const need = Math.ceil(Math.max(0, b.length - room) / PIECE);
    if (need > 0 && !reserveMemory(need)) return false;
    for (let i = 0; i < need; i++) this.head.push(takePiece());
    for (let at = 0; at < b.length;) {
      const n = b.copy(this.head[Math.floor(this.headBytes / PIECE)], this.headBytes % PIECE, at);
      at += n;
      this.headBytes += n;
    }
    return true;
  }

  /** Gives the head's pieces and budget back; `reuse`: no write can still be reading them. */
  private releaseHead(pieces: Buffer[], reuse: boolean): void {
    releaseMemory(pieces.length);
    if (reuse) for (const p of pieces) givePiece(p);
  }

  private finishReceiving(): void {
    const spool = this.spool;
    if (spool === null) { this.becomeHeld(); return; }
    spool.flush((err) => {
      if (this.state !== 'receiving') return;
      if (err !== null) this.fail(err);
      else this.becomeHeld();
    });
  }

  private becomeHeld(): void {
    this.state = 'held';
    this.owner.ready();
  }

  /** Sends the held request to a child; the spool is closed once its last byte is read. */
  deliver(sink: BodySink, done: (err: Error | null) => void): void {
    if (this.state !== 'held') return;
    this.state = 'delivering';
    const pieces = this.head;
    const bytes = this.headBytes;
    this.head = [];
    this.wire = pieces;
    let kept = false;
    const bufs = pieces.map((p, i) => (i === pieces.length - 1 ? p.subarray(0, bytes - i * PIECE) : p));
    const ok = bufs.length > 0 ? sink.writeBody(bufs, { retain: () => { kept = true; } }) : true;
    const next = (): void => {
      if (this.wire !== pieces) return; // disposed meanwhile
      this.wire = null;
      this.releaseHead(pieces, true);
      const spool = this.spool;
      if (spool === null) { this.state = 'over'; this.sentAll = true; done(null); return; }
      spool.pipeTo(sink, (err) => {
        this.sentAll = err === null;
        this.dispose();
        done(err);
      });
    };
    // The pieces go back to the pool only once the child's socket let go of them.
    if (!ok || kept) sink.onceBodyDrained(next);
    else next();
  }

  /** The request is over, or never will be served: the spool goes. Idempotent. */
  dispose(): void {
    this.state = 'over';
    this.releaseHead(this.head, true);
    this.head = [];
    // Written to a connection that may still hold them: the budget back, the pieces to the collector.
    if (this.wire !== null) this.releaseHead(this.wire, false);
    this.wire = null;
    this.spool?.close();
    this.spool = null;
    this.resumeSource();
  }

  private resumeSource(): void {
    const s = this.paused;
    this.paused = null;
    s?.resume();
  }

  private fail(err: Error): void {
    this.dispose();
    this.owner.failed(err);
  }

  // ---- ScanSink: the request's records

  onHeader(type: number, _id: number, contentLength: number): void {
    this.recType = type;
    this.recLen = contentLength;
  }

  onContent(chunk: Buffer, start: number, end: number): void {
    if (this.recType !== RecordType.STDIN || this.check === null) return;
    const r = this.check.write(chunk, start, end);
    if (r !== null && this.state === 'receiving') {
      this.dispose();
      this.owner.refused(r);
    }
  }

  onRecordEnd(type: number): boolean {
    if (type === RecordType.STDIN && this.recLen === 0) this.complete = true;
    this.recType = noRecord;
    return true;
  }
}
