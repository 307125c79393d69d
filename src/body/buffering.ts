// A pool's tsfpm.request_buffering: what the pool calls, once a request's
// params are complete, to receive the request whole before a child is
// engaged (src/pool/pool.ts: Pool.dispatch). Only pools with the directive on
// have one; the others run none of this.
import { pickParams } from '../fastcgi/params.js';
import type { Request } from '../pool/request.js';
import { BodyIntake } from './intake.js';
import type { BodyLimits } from './limits.js';
import { refusalLine, refusalReply } from './refusal.js';
import { uploadPlan, type Refusal, type UploadPlan } from './upload-rules.js';

const NAMES = ['REQUEST_METHOD', 'CONTENT_TYPE', 'CONTENT_LENGTH'] as const;

export interface HeldRequestOwner {
  /** The request is held whole (req.body): engage a child or queue it. */
  ready(req: Request): void;
  /** The master answers `reply` (a 413) instead; the WARNING is logged already. */
  refused(req: Request, reply: Buffer): void;
  /** The request cannot be held (spool failure, logged): its connection is to be closed. */
  failed(req: Request): void;
}

export interface BufferingLog {
  warning(msg: string): void;
  error(msg: string): void;
}

export class BodyBuffering {
  constructor(
    private readonly pool: string,
    /** The pool's effective limits; null when php-cgi could not report them (bodies are then buffered unchecked). */
    private readonly limits: BodyLimits | null,
    /** Where spool files are made (the master's run directory). */
    private readonly spoolDir: string,
    private readonly log: BufferingLog,
  ) {}

  /**
   * Starts holding `req`: what was read so far (req.pending) and, through
   * ClientConn, the rest. The owner hears back once: ready, refused or failed
   * (maybe before this returns); or never, if the web server leaves first
   * (Pool.abort disposes of req.body then).
   */
  begin(req: Request, owner: HeldRequestOwner): void {
    let plan: UploadPlan = { kind: 'pass' };
    if (this.limits !== null) {
      let method: string | undefined;
      let type: string | undefined;
      let length: string | undefined;
      try {
        [method, type, length] = pickParams(req.paramsBody, NAMES);
      } catch {
        // Malformed params: php-cgi will say so.
      }
      plan = uploadPlan(this.limits, method, type, length);
    }
    const held = req.pending;
    req.pending = [];
    if (plan.kind === 'refuse') {
      this.refuse(req, plan.refusal, owner);
      return;
    }
    const intake = new BodyIntake(plan, this.limits, this.spoolDir, req.client.sock, {
      ready: () => owner.ready(req),
      refused: (r) => this.refuse(req, r, owner),
      failed: (err) => {
        this.log.error(`[pool ${this.pool}] request body could not be spooled, closing the connection: ${err.message}`);
        owner.failed(req);
      },
    });
    req.body = intake;
    intake.take(held);
  }

  private refuse(req: Request, r: Refusal, owner: HeldRequestOwner): void {
    const p = req.params;
    this.log.warning(refusalLine(this.pool, p.get('SCRIPT_FILENAME') ?? '', p.get('REQUEST_METHOD') ?? '', p.get('REQUEST_URI') ?? '', r));
    owner.refused(req, refusalReply(req.id));
  }
}
