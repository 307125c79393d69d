// One php-cgi child: its process, the private listening socket it accepts on
// (fd 0, which puts php-cgi in FastCGI mode with no socket of its own), and
// tsfpm's one persistent connection to it. Replies are relayed to the web
// server as raw chunks; only record headers are looked at, to find
// END_REQUEST and php-cgi's own 404 page.
import * as net from 'node:net';
import * as fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { RecordScanner, type ScanSink } from '../fastcgi/scanner.js';
import { RecordType } from '../fastcgi/constants.js';
import { encodeRecord } from '../fastcgi/encoder.js';
import type { Request } from './request.js';
import type { SpawnPlan } from '../php/spawn-plan.js';

// php-cgi answers a missing script with this exact STDOUT record body.
const PHPCGI_404 = Buffer.from('Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\nNo input file specified.\n', 'latin1');
const FPM_404 = Buffer.from('Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\nFile not found.\n', 'latin1');
const FPM_404_STDERR = Buffer.from('Primary script unknown', 'latin1');

export interface ChildOwner {
  childFree(child: Child): void;
  childLost(child: Child): void;
  childExited(child: Child, code: number | null, signal: NodeJS.Signals | null): void;
  childOutput(child: Child, stream: 'stdout' | 'stderr', data: Buffer): void;
}

export type ChildState = 'idle' | 'busy' | 'exiting';

export class Child implements ScanSink {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly startedAt = Date.now();
  readonly startedHr = process.hrtime.bigint();
  state: ChildState = 'idle';
  lastChange = Date.now();
  requests = 0;
  req: Request | null = null;
  /** Marked by the process manager; not replaced when it exits. */
  pmKilled = false;
  // Connected on first use: php-cgi drops a connection that brings no request
  // within 5 s of accept() (main/fastcgi.c), but never one between requests.
  private sock: net.Socket | null = null;
  private scanner = new RecordScanner(this);
  private first = true;
  private rewrite: [number, number] | null = null;
  private chunk: Buffer = Buffer.alloc(0);
  private pausedClient: net.Socket | null = null;
  private exited = false;

  /** Synchronous: the socket exists and php-cgi is exec'd; requests may be sent at once. */
  constructor(
    readonly seq: number,
    private readonly socketPath: string,
    listenFd: number,
    plan: SpawnPlan,
    opts: { cwd?: string; catchOutput: boolean; uid?: number; gid?: number },
    private readonly owner: ChildOwner,
  ) {
    const stdio: ('ignore' | 'pipe' | number)[] = [listenFd, opts.catchOutput ? 'pipe' : 'ignore', opts.catchOutput ? 'pipe' : 'ignore'];
    this.proc = spawn(plan.command, plan.args, { stdio, env: plan.env, cwd: opts.cwd });
    this.pid = this.proc.pid ?? -1;
    this.proc.on('error', () => { /* ENOENT etc.: 'exit' or the pid check reports it */ });
    this.proc.on('exit', (code, signal) => this.onExit(code, signal));
    if (opts.catchOutput) {
      this.proc.stdout?.on('data', (d: Buffer) => owner.childOutput(this, 'stdout', d));
      this.proc.stderr?.on('data', (d: Buffer) => owner.childOutput(this, 'stderr', d));
    }
  }

  private connect(): net.Socket {
    const sock = net.connect(this.socketPath);
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('drain', () => { const c = this.pausedClient; this.pausedClient = null; c?.resume(); });
    sock.on('error', () => { /* 'close' follows */ });
    sock.on('close', () => { if (this.sock === sock) this.onLost(); });
    this.sock = sock;
    return sock;
  }

  /** Hands a request to this (idle) child. */
  engage(req: Request): void {
    this.state = 'busy';
    this.lastChange = Date.now();
    this.req = req;
    req.child = this;
    this.first = true;
    const p = req.pending;
    req.pending = [];
    this.send(p);
  }

  /** Writes request bytes; a slow child pauses the web server's connection. */
  send(bufs: Buffer[]): void {
    if (bufs.length === 0) return;
    const sock = this.sock ?? this.connect();
    let ok: boolean;
    if (bufs.length === 1) ok = sock.write(bufs[0]);
    else {
      sock.cork();
      for (const b of bufs) sock.write(b);
      sock.uncork();
      ok = sock.writableLength < sock.writableHighWaterMark;
    }
    if (!ok && this.req !== null && !this.req.aborted) {
      this.pausedClient = this.req.client.sock;
      this.pausedClient.pause();
    }
  }

  private onData(chunk: Buffer): void {
    const req = this.req;
    if (req === null) return; // php-cgi never speaks unasked; ignore
    this.chunk = chunk;
    this.rewrite = null;
    let stop: number;
    try {
      stop = this.scanner.scan(chunk, 0);
    } catch {
      // A child that breaks the protocol costs its own request only.
      this.kill('SIGKILL');
      return;
    }
    const done = this.ended;
    if (!req.aborted) {
      const client = req.client.sock;
      let ok: boolean;
      // Set by onHeader during scan(); TS cannot see that through the callback.
      const rewrite = this.rewrite as [number, number] | null;
      if (rewrite !== null) {
        const [a, b] = rewrite;
        client.cork();
        client.write(chunk.subarray(0, a));
        client.write(encodeRecord(RecordType.STDERR, req.id, FPM_404_STDERR));
        client.write(encodeRecord(RecordType.STDOUT, req.id, FPM_404));
        ok = client.write(chunk.subarray(b, stop));
        client.uncork();
      } else {
        ok = client.write(stop === chunk.length ? chunk : chunk.subarray(0, stop));
      }
      if (!ok && !done) {
        const sock = this.sock;
        sock?.pause();
        client.once('drain', () => sock?.resume());
      }
    }
    if (done) this.finish(req);
  }

  private ended = false;

  onHeader(type: number, _id: number, contentLength: number, padding: number, headerStart: number): void {
    if (this.first) {
      this.first = false;
      if (type === RecordType.STDOUT && contentLength === PHPCGI_404.length && headerStart >= 0) {
        const c = this.chunk;
        const s = headerStart + 8;
        if (c.length >= s + contentLength + padding && c.compare(PHPCGI_404, 0, PHPCGI_404.length, s, s + contentLength) === 0) {
          this.rewrite = [headerStart, s + contentLength + padding];
        }
      }
    }
  }

  onContent(): void { /* reply bytes are forwarded whole */ }

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
    this.state = 'idle';
    this.lastChange = Date.now();
    if (!req.aborted) req.client.requestFinished(req);
    this.owner.childFree(this);
  }

  /**
   * The web server went away. A request whose body is complete runs on and its
   * reply is dropped; one still waiting for body bytes would wait forever, so
   * the connection is replaced (php-cgi sees EOF and goes back to accept()).
   */
  abortRequest(req: Request): void {
    if (this.req !== req) return;
    if (req.stdinDone) {
      // The reply may be paused waiting for a 'drain' that will never come.
      this.sock?.resume();
      return;
    }
    const old = this.sock;
    this.sock = null; // reconnect on next use; php-cgi sees EOF and returns to accept()
    old?.destroy();
    this.req = null;
    this.ended = false;
    this.scannerReset();
    req.finished = true;
    this.requests++;
    this.state = 'idle';
    this.lastChange = Date.now();
    this.owner.childFree(this);
  }

  private scannerReset(): void {
    this.scanner = new RecordScanner(this);
  }

  private onLost(): void {
    this.sock = null;
    const req = this.req;
    if (req === null) return; // an idle connection php-cgi timed out; reconnect on use
    // Mid-request: php-cgi died or broke the stream. Only this request is lost.
    this.req = null;
    this.ended = false;
    this.scannerReset();
    req.finished = true;
    if (!req.aborted) req.client.sock.destroy(); // the web server sees the upstream close (nginx: 502)
    if (!this.exited && this.state !== 'exiting') {
      this.state = 'exiting';
      this.owner.childLost(this);
    }
  }

  /** Stops taking requests and signals the process (SIGTERM is php-cgi's graceful stop). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.state = 'exiting';
    if (this.req === null) this.sock?.destroy();
    if (!this.exited) {
      try { this.proc.kill(signal); } catch { /* already gone */ }
    }
  }

  /** Closes the connection; an idle php-cgi then exits on SIGTERM. */
  retire(): void {
    this.kill('SIGTERM');
  }

  get alive(): boolean { return !this.exited; }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.state = 'exiting';
    try { fs.unlinkSync(this.socketPath); } catch { /* gone */ }
    const req = this.req;
    this.req = null;
    if (req !== null && !req.aborted && !req.finished) {
      req.finished = true;
      req.client.sock.destroy();
    }
    this.sock?.destroy();
    this.owner.childExited(this, code, signal);
  }
}
