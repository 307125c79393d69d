// One php-cgi child as tsfpm sees it: a persistent FastCGI connection to one
// php-cgi process, and the request it is serving. Replies are relayed to the
// web server as raw chunks; only record headers are looked at, to find
// END_REQUEST, except where php-fpm's reply differs (ReplyRewriter: STDERR
// records, php-cgi's own 404 page).
//
// Two ways to have a child (docs/request-path.md):
// - standalone: tsfpm spawned this php-cgi itself (own socket, own pid, exit status seen);
// - shared: one of the PHP_FCGI_CHILDREN workers of a php-cgi parent, all
//   accepting on the pool's private socket. Each worker serves the one
//   connection it accepted, so a connection is pinned to a pid; the pid is
//   learnt with a tiny getmypid() request when the connection opens.
import * as fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { RecordScanner, type ScanSink } from '../fastcgi/scanner.js';
import { RecordType, Role, FLAG_KEEP_CONN } from '../fastcgi/constants.js';
import { encodeRecord, encodeBeginRequest, encodeParams } from '../fastcgi/encoder.js';
import { ReplyRewriter } from './reply-rewriter.js';
import type { FinishCut } from './finish-cut.js';
import type { StderrMessages } from './reply-stderr.js';
import type { Request } from './request.js';
import { connectUnix, type FrontSocket, type Retainer } from '../net/front-socket.js';
import type { BodySink } from '../body/spool.js';
import { pidAlive } from '../php/launch.js';
import type { ChildAccess } from '../log/access-log.js';

const EMPTY = Buffer.alloc(0);

export interface ChildOwner {
  childFree(child: Child): void;
  childLost(child: Child): void;
  childExited(child: Child, code: number | null, signal: NodeJS.Signals | null): void;
  /** Shared mode: the worker behind this slot is gone: retired, terminated (request_terminate_timeout) or lost. */
  workerGone(child: Child, pid: number, end: WorkerEnd, startedHr: bigint, requests: number): void;
  /** Shared mode: a new worker pid was learnt for this slot. */
  workerStarted(child: Child, replacement: boolean): void;
  /** Bytes from a standalone child's stdout/stderr (catch_workers_output); null: the pipe closed. */
  childOutput(child: Child, stream: 'stdout' | 'stderr', data: Buffer | null): void;
  /** A reply ended (END_REQUEST): php-fpm's worker flushes its log stream then. */
  requestEnded(child: Child): void;
  /** The FCGI_STDERR message rewriter for this child's replies (log_limit, error-log copy). */
  phpMessages(child: Child): StderrMessages;
}

export type ChildState = 'idle' | 'busy' | 'exiting';
export type WorkerEnd = 'retired' | 'terminated' | 'lost';

/** The getmypid() probe request for shared-mode connections. */
export function whoamiRequest(script: string): Buffer {
  return Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, FLAG_KEEP_CONN),
    encodeRecord(RecordType.PARAMS, 1, encodeParams([['SCRIPT_FILENAME', script], ['REQUEST_METHOD', 'GET'], ['REDIRECT_STATUS', '200']])),
    encodeRecord(RecordType.PARAMS, 1, EMPTY),
    encodeRecord(RecordType.STDIN, 1, EMPTY),
  ]);
}

export class Child implements ScanSink, BodySink {
  pid: number;
  startedAt = Date.now();
  startedHr = process.hrtime.bigint();
  state: ChildState = 'idle';
  lastChange = Date.now();
  requests = 0;
  req: Request | null = null;
  /** The request engaged last, kept after it finished: the status page's Idle figures. */
  last: Request | null = null;
  /** Marked by the process manager; not replaced when it exits. */
  pmKilled = false;
  /** Killed by request_terminate_timeout (src/slowlog/watchdog.ts): the pool logs php-fpm's exit line. */
  terminated = false;
  /** The pool's access log (src/log/access-log.ts); null without one, and then none of it runs. */
  access: ChildAccess | null = null;
  // Connected on first use: php-cgi drops a connection that brings no request
  // within 5 s of accept() (main/fastcgi.c), but never one between requests.
  private sock: FrontSocket | null = null;
  private scanner = new RecordScanner(this);
  /** Set by engage(): the next reply chunk starts a new request's reply. */
  private first = true;
  private ended = false;
  private readonly rw: ReplyRewriter;
  private chunk: Buffer = EMPTY;
  private pausedClient: FrontSocket | null = null;
  private exited = false;
  // Shared mode.
  private probing = false;
  private probeOut: Buffer[] = [];
  /** STDOUT content goes to stdoutContent(): the probe's reply, or a reply head the access log reads. */
  private watchStdout = false;
  private retiring = false;
  private probed = false;
  private recType = 0;

  constructor(
    readonly seq: number,
    private socketPath: string,
    private readonly owner: ChildOwner,
    /** Standalone: the php-cgi process this child is. Shared: null. */
    readonly proc: ChildProcess | null,
    /** Shared: the probe request sent first on every new connection. */
    private readonly probe: Buffer | null,
  ) {
    this.pid = proc?.pid ?? -1;
    this.rw = new ReplyRewriter(owner.phpMessages(this));
    if (proc !== null) {
      proc.on('error', () => { /* ENOENT etc.: 'exit' follows */ });
      proc.on('exit', (code, signal) => this.onExit(code, signal));
      proc.stdout?.on('data', (d: Buffer) => owner.childOutput(this, 'stdout', d));
      proc.stderr?.on('data', (d: Buffer) => owner.childOutput(this, 'stderr', d));
      proc.stdout?.on('end', () => owner.childOutput(this, 'stdout', null));
      proc.stderr?.on('end', () => owner.childOutput(this, 'stderr', null));
    }
  }

  get shared(): boolean { return this.proc === null; }

  /**
   * Shared mode: the php-cgi parent was replaced; its socket moved. The old
   * parent's workers are being killed (Pool.spawnParent), so a connection to
   * one of them closes by itself and onLost() fails its request, if any, and
   * frees the slot. (Dropping it here instead left a busy slot waiting for a
   * reply that could never come: a pool under load stopped serving.)
   */
  rebind(socketPath: string): void {
    this.socketPath = socketPath;
  }

  private connect(): FrontSocket {
    const sock = connectUnix(this.socketPath);
    sock.onData = (c: Buffer) => this.onData(c);
    sock.onClose = () => { if (this.sock === sock) this.onLost(); };
    this.sock = sock;
    if (this.probe !== null) {
      this.probing = true;
      this.watchStdout = true;
      this.probeOut = [];
      sock.write(this.probe);
    }
    return sock;
  }

  /**
   * Held for a web-server connection whose request is still in the kernel
   * (Pool.onConnection): busy for the process manager, but no request yet.
   */
  reserve(): void {
    this.state = 'busy';
    this.lastChange = Date.now();
  }

  /** The reserved-for connection brought no request after all. */
  unreserve(): void {
    if (this.req === null) this.setIdle();
  }

  /** True when engage() may be called: alive, connected or connectable, no request. */
  get usable(): boolean {
    return this.state !== 'exiting' && this.req === null;
  }

  /** Hands a request to this (idle or reserved) child. */
  engage(req: Request): void {
    this.state = 'busy';
    this.lastChange = Date.now();
    this.req = req;
    this.last = req;
    req.child = this;
    this.first = true;
    if (this.access !== null) this.watchStdout = this.access.start(this.pid) || this.probing;
    if (req.body !== null) {
      // Received whole before (tsfpm.request_buffering): sent from the master's copy.
      req.body.deliver(this, (err) => { if (err !== null) this.bodyLost(req); });
      return;
    }
    const p = req.pending;
    req.pending = [];
    // p may hold views of the web server's read buffer (engaged on arrival).
    this.send(p, req.client.sock);
    // The web server was paused while the body waited for a child (unless send() just paused it).
    if (!req.aborted && this.pausedClient === null && req.client.sock.isPaused()) req.client.sock.resume();
  }

  /**
   * Writes request bytes read from `src`; a slow child pauses the web
   * server's connection.
   */
  send(bufs: Buffer[], src: FrontSocket): void {
    if (bufs.length === 0) return;
    const sock = this.sock ?? this.connect();
    const ok = sock.writev(bufs, src);
    if (!ok && this.req !== null && !this.req.aborted && this.pausedClient === null) {
      const client = this.req.client.sock;
      this.pausedClient = client;
      client.pause();
      sock.onceDrain(() => {
        if (this.pausedClient === client) this.pausedClient = null;
        client.resume();
      });
    }
  }

  /** BodySink: bytes of a request the master held (src/body/intake.ts). */
  writeBody(bufs: Buffer[], keeper: Retainer): boolean {
    return (this.sock ?? this.connect()).writev(bufs, keeper);
  }

  onceBodyDrained(cb: () => void): void {
    this.sock?.onceDrain(cb);
  }

  /** The held copy of req could not be read back: the child's connection is dropped, the web server's closed (nginx: 502). */
  private bodyLost(req: Request): void {
    if (this.req !== req) return;
    this.req = null;
    req.finished = true;
    this.requests++;
    this.dropConnection();
    if (req.attached) req.client.sock.destroy();
    this.setIdle();
    this.owner.childFree(this);
  }

  private onData(chunk: Buffer): void {
    if (this.probing) {
      chunk = this.readProbe(chunk);
      if (chunk.length === 0) return;
    }
    const req = this.req;
    if (req === null) return; // php-cgi never speaks unasked; ignore
    this.chunk = chunk;
    const rw = this.rw;
    if (this.first) {
      this.first = false;
      rw.reset();
    }
    if (rw.pending) rw.begin(chunk);
    let stop: number;
    try {
      stop = this.scanner.scan(chunk, 0);
    } catch {
      this.brokenStream();
      return;
    }
    // Common path (no STDERR record, no header cut at the end): both false, the chunk goes as it came.
    const out = rw.out !== null || this.scanner.partialHeaderStart >= 0 ? rw.end(chunk, this.scanner, stop) : null;
    const done = this.ended;
    if (rw.finish !== null) this.relayFinished(req, rw.finish, chunk, stop, out, done);
    else if (!req.aborted) {
      const client = req.client.sock;
      let ok: boolean;
      if (out === null) ok = client.write(stop === chunk.length ? chunk : chunk.subarray(0, stop), this.sock ?? undefined);
      else if (out.length > 0) ok = client.writev(out, this.sock ?? undefined);
      else ok = true;
      if (!ok && !done) {
        const sock = this.sock;
        sock?.pause();
        client.onceDrain(() => sock?.resume());
      }
    }
    if (done) this.finish(req);
  }

  /**
   * The script called fastcgi_finish_request() (src/pool/finish-cut.ts): the
   * web server gets the reply up to that point and its end; the child goes on
   * with the request, its later output is dropped.
   */
  private relayFinished(req: Request, cut: FinishCut, chunk: Buffer, stop: number, out: Buffer[] | null, done: boolean): void {
    let send = cut.filter(out ?? [stop === chunk.length ? chunk : chunk.subarray(0, stop)]);
    if (done && !cut.replied) send = send.concat(cut.drain());
    if (req.aborted || send.length === 0) return;
    const client = req.client.sock;
    if (!client.writev(send, this.sock ?? undefined) && !done && !cut.replied) {
      const sock = this.sock;
      sock?.pause();
      client.onceDrain(() => sock?.resume());
    }
    if (cut.replied && !req.replied) {
      req.replied = true;
      // A body still coming goes on to the child; the connection is free once it ended (ClientConn).
      if (req.stdinDone) req.client.requestFinished(req);
    }
  }

  /** Consumes the probe's reply; returns what follows it in the chunk. */
  private readProbe(chunk: Buffer): Buffer {
    let stop: number;
    try {
      stop = this.scanner.scan(chunk, 0);
    } catch {
      this.brokenStream();
      return EMPTY;
    }
    if (!this.ended) return EMPTY;
    this.ended = false;
    this.probing = false;
    this.watchStdout = this.access !== null && this.access.wanting;
    this.probed = true;
    const body = Buffer.concat(this.probeOut).toString('latin1');
    const pid = Number(body.slice(body.lastIndexOf('\r\n\r\n') + 4));
    this.probeOut = [];
    if (pid !== this.pid) {
      const replacement = this.pid > 0;
      this.pid = Number.isInteger(pid) && pid > 0 ? pid : -1;
      this.startedAt = Date.now();
      this.startedHr = process.hrtime.bigint();
      this.requests = 0;
      this.owner.workerStarted(this, replacement);
    }
    return chunk.subarray(stop);
  }

  onHeader(type: number, id: number, contentLength: number, padding: number, headerStart: number, afterHeader: number): void {
    this.recType = type;
    if ((type === RecordType.STDERR || this.rw.active) && !this.probing) {
      this.rw.header(this.chunk, this.scanner, type, id, contentLength, padding, headerStart, afterHeader);
    }
  }

  onContent(chunk: Buffer, start: number, end: number): void {
    if (this.recType === RecordType.STDOUT) {
      if (this.watchStdout) this.stdoutContent(chunk, start, end);
    } else if (this.recType === RecordType.STDERR && !this.probing) this.rw.content(chunk, start, end);
  }

  private stdoutContent(chunk: Buffer, start: number, end: number): void {
    if (this.probing) this.probeOut.push(Buffer.from(chunk.subarray(start, end)));
    else if (!this.access!.content(chunk, start, end)) this.watchStdout = false;
  }

  onRecordEnd(type: number): boolean {
    if (type === RecordType.END_REQUEST) {
      this.ended = true;
      return false;
    }
    return true;
  }

  private finish(req: Request): void {
    this.ended = false;
    this.req = null;
    req.finished = true;
    this.requests++;
    if (req.body !== null) {
      // php-cgi ended the request before its last byte arrived: what is left would start the next one.
      if (!req.body.delivered) this.dropConnection();
      req.body.dispose();
    }
    if (this.access !== null) {
      this.watchStdout = false;
      this.access.end(req, this.pid);
    }
    this.setIdle();
    if (!req.aborted && !req.replied) req.client.requestFinished(req);
    this.owner.requestEnded(this);
    this.owner.childFree(this);
  }

  private setIdle(): void {
    if (this.state !== 'exiting') this.state = 'idle';
    this.lastChange = Date.now();
  }

  /**
   * The web server went away. A request whose body is complete runs on and its
   * reply is dropped; one still waiting for body bytes would wait forever, so
   * the connection is dropped (php-cgi sees EOF and goes back to accept()).
   */
  abortRequest(req: Request): void {
    if (this.req !== req) return;
    if (req.stdinDone) {
      // The reply may be paused waiting for a 'drain' that will never come.
      this.sock?.resume();
      return;
    }
    this.req = null;
    req.finished = true;
    this.requests++;
    this.dropConnection();
    this.setIdle();
    this.owner.childFree(this);
  }

  /** Forgets the connection without treating it as lost; the next use reconnects. */
  private dropConnection(): void {
    const old = this.sock;
    this.resetStream();
    old?.destroy(); // its onClose no longer matches this.sock: not a loss
  }

  /** A fresh reply stream: no connection, no half-read record, no probe pending. */
  private resetStream(): void {
    this.sock = null;
    this.ended = false;
    this.probing = false;
    this.watchStdout = false;
    this.access?.reset();
    this.scanner = new RecordScanner(this);
  }

  /** The child broke the FastCGI stream: it costs its own request only. */
  private brokenStream(): void {
    this.kill('SIGKILL');
    if (this.proc === null) this.sock?.destroy();
  }

  private onLost(): void {
    this.resetStream();
    const req = this.req;
    this.req = null;
    req?.body?.dispose();
    if (req !== null) {
      // Mid-request: php-cgi died or broke the stream. Only this request is lost.
      req.finished = true;
      if (req.attached) req.client.sock.destroy(); // the web server sees the upstream close (nginx: 502)
    }
    if (this.proc !== null) {
      if (req !== null && !this.exited && this.state !== 'exiting') {
        this.state = 'exiting';
        this.owner.childLost(this);
      }
      return; // an idle connection php-cgi timed out: reconnect on use
    }
    // Shared: a dead worker is replaced by its php-cgi parent. Reconnect at once
    // (the probe is the first request, so php-cgi's 5 s accept timeout cannot
    // bite), but only after a connection that worked, so a dead parent cannot
    // make this loop.
    const eager = this.probed;
    this.probed = false;
    const pid = this.pid;
    const end: WorkerEnd = this.retiring ? 'retired' : this.terminated ? 'terminated' : 'lost';
    this.retiring = false;
    this.terminated = false;
    if (pid > 0) {
      // A worker that broke off mid-request is finished off; whether it is gone
      // is checked a moment later (its socket closes before it becomes a zombie).
      if (req !== null && end !== 'retired') { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      const since = this.startedHr;
      const served = this.requests;
      // SIGKILLed by the watchdog: gone, and logged before its replacement says it started.
      if (end === 'terminated') this.owner.workerGone(this, pid, end, since, served);
      else {
        setTimeout(() => {
          if (end === 'retired' || !pidAlive(pid)) this.owner.workerGone(this, pid, end, since, served);
        }, 50);
      }
      this.requests = 0;
    }
    if (this.state === 'exiting' && !this.pmKilled) this.state = 'idle';
    if (this.state === 'busy') this.state = 'idle';
    this.lastChange = Date.now();
    this.owner.childFree(this);
    if (eager) setImmediate(() => this.warm());
  }

  /** Shared mode: open the connection (and learn the pid) before a request needs it. */
  warm(): void {
    if (this.proc === null && this.sock === null && this.state === 'idle' && this.req === null) this.connect();
  }

  /** Signals the process (SIGTERM is php-cgi's graceful stop) and stops taking requests. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.state = 'exiting';
    if (this.proc !== null) {
      if (!this.exited) { try { this.proc.kill(signal); } catch { /* already gone */ } }
    } else if (this.pid > 0) {
      try { process.kill(this.pid, signal); } catch { /* already gone */ }
    }
    // After the signal: php-cgi blocked reading this connection sees EOF, then
    // finds its shutdown flag set instead of accepting again.
    if (this.req === null) this.sock?.destroy();
  }

  /**
   * request_terminate_timeout: the process dies now, as php-fpm's worker dies
   * of its SIGTERM. php-cgi only notes a SIGTERM and runs the script on (a
   * sleep() returns early), so it gets SIGKILL; the pool logs the exit in
   * php-fpm's words. The web server's connection closes when the child's does.
   */
  terminate(): void {
    this.terminated = true;
    this.kill('SIGKILL');
  }

  /**
   * pm.max_requests / idle reaping: the process ends after its current request.
   * False when there is nothing to end (a shared slot with no worker yet).
   */
  retire(): boolean {
    if (this.proc === null) {
      if (this.pid <= 0 || this.sock === null) { this.requests = 0; return false; }
      this.retiring = true;
    }
    this.kill('SIGTERM');
    return true;
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.access?.close();
    this.state = 'exiting';
    try { fs.unlinkSync(this.socketPath); } catch { /* gone */ }
    const req = this.req;
    this.req = null;
    req?.body?.dispose();
    if (req !== null && req.attached && !req.finished) {
      req.finished = true;
      req.client.sock.destroy();
    }
    this.sock?.destroy();
    this.owner.childExited(this, code, signal);
  }
}
