// The web server's side of a connection, as the relay needs it: bytes in,
// bytes out, pause, close. Two implementations behind one small interface:
//
// - RawFrontSocket drives the libuv handle that net.Server accepted directly
//   (Node's stream_wrap binding). For a FastCGI request that is one read, one
//   write and one close, net.Socket's Duplex machinery (stream states, event
//   emitters, nextTick close) costs more than the work itself: measured here,
//   ~36 µs of master CPU per hello request with net.Socket against ~26 µs raw,
//   hello throughput 0.62 -> 0.85+ of php-fpm's without nginx keep-alive
//   (docs/request-path.md).
// - NetFrontSocket wraps a net.Socket; used when the binding is missing (a
//   Node that no longer exposes it) or TSFPM_RAW_SOCKETS=0.
import type * as net from 'node:net';

/** Whoever owns the buffers being written: told to retain() them when a write could not complete at once. */
export interface Retainer {
  retain(): void;
}

export interface FrontSocket extends Retainer {
  /** Peer IP for TCP, undefined for unix sockets. */
  readonly remoteAddress: string | undefined;
  /**
   * A chunk read. It may be a view of the socket's own read buffer, valid only
   * until onData returns: a consumer that keeps it (or a part of it) calls
   * retain(), or copies.
   */
  onData: (chunk: Buffer) => void;
  /** Called once when the connection is gone, whoever closed it. */
  onClose: () => void;
  /** The chunk being delivered to onData is kept: read the next one elsewhere. */
  retain(): void;
  /**
   * False when the bytes queued in user space passed the high-water mark.
   * `src` is the socket `buf` was read from (or another owner of it): told
   * to retain() it when the write could not complete at once.
   */
  write(buf: Buffer, src?: Retainer): boolean;
  /** Several buffers in one system call. */
  writev(bufs: Buffer[], src?: Retainer): boolean;
  onceDrain(cb: () => void): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
  /** Closes once everything written has been flushed. */
  close(): void;
  /** Closes now, dropping anything unsent. */
  destroy(): void;
}

const HIGH_WATER_MARK = 64 * 1024;
const noop = (): void => { /* replaced by the owner */ };

// ---- read buffers
//
// A raw handle reads into a buffer of its own that libuv fills in place (the
// stream's "user buffer"): no 64 KiB malloc, realloc and ArrayBuffer per read,
// which let the glibc heap grow to 70-90 MiB during uploads (freed only when
// V8 collected each ArrayBuffer). A chunk the relay keeps past onData
// (a body queued for a busy pool, a write the kernel could not take at once)
// makes the socket move on to a fresh buffer; the old one is left to the GC
// with whoever holds it. Buffers of closed sockets go back to a small free list.

/** Large enough to drain a unix socket's default buffer (~208 KiB) in two reads. */
export const READ_BUFFER_SIZE = 128 * 1024;
const FREE_LIST_MAX = 64;
const freeList: Buffer[] = [];

function takeReadBuffer(): Buffer {
  return freeList.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
}

function giveBackReadBuffer(b: Buffer): void {
  if (freeList.length < FREE_LIST_MAX) freeList.push(b);
}

// ---- raw libuv handles (Node internals, feature-detected)

interface StreamHandle {
  // Native setter: must stay a function. With a user buffer, returning a
  // Buffer makes it the buffer of the next reads.
  onread: (ab: ArrayBuffer | undefined) => Buffer | undefined;
  readStart(): number;
  readStop(): number;
  useUserBuffer?(buf: Buffer): void;
  writeBuffer(req: WriteReq, buf: Buffer): number;
  writev(req: WriteReq, bufs: Buffer[], allBuffers: boolean): number;
  close(cb?: () => void): void;
  getpeername?(out: { address?: string }): number;
}

interface WriteReq {
  handle: StreamHandle;
  oncomplete: (status: number) => void;
  async: boolean;
  buffer: Buffer | Buffer[] | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  streamBaseState: Int32Array;
}

function loadStreamWrap(): StreamWrapBinding | null {
  if (process.env.TSFPM_RAW_SOCKETS === '0') return null;
  try {
    const b = (process as unknown as { binding(name: string): unknown }).binding('stream_wrap') as Partial<StreamWrapBinding>;
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array)) return null;
    if (typeof b.kReadBytesOrError !== 'number' || typeof b.kArrayBufferOffset !== 'number' || typeof b.kLastWriteWasAsync !== 'number') return null;
    return b as StreamWrapBinding;
  } catch {
    return null;
  }
}

const SW = loadStreamWrap();

export class RawFrontSocket implements FrontSocket {
  onData: (chunk: Buffer) => void = noop;
  onClose: () => void = noop;
  readonly remoteAddress: string | undefined;
  private pending = 0;
  private paused = false;
  private closing = false;
  private closed = false;
  private drain: (() => void)[] = [];
  /** The user buffer libuv reads into; null when the handle cannot take one. */
  private rb: Buffer | null = null;
  private kept = false;

  /** Writes made before a raw connect() completed. */
  private queued: Buffer[] | null = null;

  /** `mode`: 'paused' waits for resume(); 'connecting' queues writes until connected(). */
  constructor(private readonly h: StreamHandle, private readonly sw: StreamWrapBinding, mode: 'paused' | 'connecting') {
    let address: string | undefined;
    if (typeof h.getpeername === 'function') {
      const out: { address?: string } = {};
      if (h.getpeername(out) === 0) address = out.address;
    }
    this.remoteAddress = address;
    if (typeof h.useUserBuffer === 'function') {
      this.rb = takeReadBuffer();
      h.useUserBuffer(this.rb);
    }
    h.onread = (ab) => {
      const n = sw.streamBaseState[sw.kReadBytesOrError];
      if (n > 0) {
        const rb = this.rb;
        if (rb !== null) {
          this.kept = false;
          this.onData(rb.subarray(0, n));
          if (this.kept && !this.closed) {
            this.kept = false;
            this.rb = takeReadBuffer();
            return this.rb;
          }
        } else if (ab !== undefined) {
          this.onData(Buffer.from(ab, sw.streamBaseState[sw.kArrayBufferOffset], n));
        }
      } else if (n < 0) {
        this.destroy(); // EOF or error: the web server is gone
      }
      return undefined;
    };
    if (mode === 'connecting') this.queued = [];
    else this.paused = true;
  }

  retain(): void {
    this.kept = true;
  }

  /** A raw connect() finished: start reading, send what was queued. */
  connected(status: number): void {
    if (this.closed) return;
    if (status < 0) { this.destroy(); return; }
    const q = this.queued ?? [];
    this.queued = null;
    for (const b of q) this.pending -= b.length;
    if (!this.paused) this.h.readStart();
    for (const b of q) this.write(b);
    if (this.pending === 0) this.flushed();
  }

  write(buf: Buffer, src?: Retainer): boolean {
    if (this.closed) return false;
    if (this.queued !== null) {
      this.queued.push(buf);
      this.pending += buf.length;
      src?.retain();
      return this.pending < HIGH_WATER_MARK;
    }
    const req = this.writeReq(buf, buf.length);
    return this.afterWrite(this.h.writeBuffer(req, buf), buf.length, src);
  }

  writev(bufs: Buffer[], src?: Retainer): boolean {
    if (bufs.length === 1) return this.write(bufs[0], src);
    if (this.closed) return false;
    if (this.queued !== null) {
      for (const b of bufs) this.write(b, src);
      return this.pending < HIGH_WATER_MARK;
    }
    let len = 0;
    for (const b of bufs) len += b.length;
    const req = this.writeReq(bufs, len);
    return this.afterWrite(this.h.writev(req, bufs, true), len, src);
  }

  private writeReq(data: Buffer | Buffer[], len: number): WriteReq {
    const req = new this.sw.WriteWrap();
    req.handle = this.h;
    req.async = false;
    req.buffer = data; // keeps the bytes alive until libuv is done with them
    req.oncomplete = () => {
      this.pending -= len;
      if (this.pending === 0) this.flushed();
    };
    return req;
  }

  private afterWrite(err: number, len: number, src: Retainer | undefined): boolean {
    if (err !== 0) { this.destroy(); return false; }
    if (this.sw.streamBaseState[this.sw.kLastWriteWasAsync] !== 0) {
      this.pending += len;
      src?.retain(); // libuv still points into src's read buffer
    }
    return this.pending < HIGH_WATER_MARK;
  }

  private flushed(): void {
    const cbs = this.drain;
    this.drain = [];
    for (const cb of cbs) cb();
    if (this.closing) this.finalClose();
  }

  onceDrain(cb: () => void): void {
    if (this.pending === 0) cb();
    else this.drain.push(cb);
  }

  pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    if (this.queued === null) this.h.readStop();
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    if (this.queued === null) this.h.readStart();
  }

  isPaused(): boolean { return this.paused; }

  close(): void {
    this.closing = true;
    if (this.pending === 0) this.finalClose();
  }

  destroy(): void {
    this.finalClose();
  }

  private finalClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.drain = [];
    this.h.onread = () => undefined;
    this.h.readStop();
    this.h.close(() => {
      // After the last onData returned: its chunk was kept or is free again.
      if (this.rb !== null && !this.kept) giveBackReadBuffer(this.rb);
      this.rb = null;
      this.onClose();
    });
  }
}

// ---- net.Socket fallback

export class NetFrontSocket implements FrontSocket {
  onData: (chunk: Buffer) => void = noop;
  onClose: () => void = noop;

  constructor(private readonly s: net.Socket, startPaused = false) {
    s.on('data', (c: Buffer) => this.onData(c));
    if (startPaused) s.pause();
    s.on('error', () => { /* 'close' follows */ });
    s.on('close', () => this.onClose());
  }

  get remoteAddress(): string | undefined { return this.s.remoteAddress; }
  // net.Socket reads into a fresh buffer each time: nothing to retain.
  retain(): void { /* nothing */ }
  write(buf: Buffer, src?: Retainer): boolean {
    return this.writev([buf], src);
  }
  writev(bufs: Buffer[], src?: Retainer): boolean {
    let ok = true;
    this.s.cork();
    for (const b of bufs) ok = this.s.write(b);
    this.s.uncork();
    // Whatever net.Socket still holds may point into src's read buffer.
    if (this.s.writableLength > 0) src?.retain();
    return ok;
  }
  onceDrain(cb: () => void): void {
    if (this.s.writableLength === 0) cb();
    else this.s.once('drain', cb);
  }
  pause(): void { this.s.pause(); }
  resume(): void { this.s.resume(); }
  isPaused(): boolean { return this.s.isPaused(); }
  close(): void {
    if (this.s.writableLength === 0) this.s.destroy();
    else this.s.destroySoon();
  }
  destroy(): void { this.s.destroy(); }
}

/**
 * Hands every accepted connection of `server` to `onConn` as a FrontSocket,
 * paused: the owner calls resume() when it wants the bytes (a pool with no
 * idle child leaves them in the kernel). With the raw binding, net.Server
 * still binds, listens and closes; only its per-connection net.Socket is skipped.
 */
export function adoptConnections(server: net.Server, onConn: (s: FrontSocket) => void): 'raw' | 'net' {
  const handle = (server as unknown as { _handle: { onconnection: unknown } | null })._handle;
  if (SW !== null && handle !== null && typeof handle.onconnection === 'function') {
    const sw = SW;
    handle.onconnection = (err: number, client: StreamHandle | undefined) => {
      if (err !== 0 || client === undefined) return;
      onConn(new RawFrontSocket(client, sw, 'paused'));
    };
    return 'raw';
  }
  server.on('connection', (sock: net.Socket) => onConn(new NetFrontSocket(sock, true)));
  return 'net';
}

// ---- outgoing unix connections (tsfpm -> php-cgi)

interface PipeBinding {
  Pipe: new (type: number) => StreamHandle & { connect(req: object, path: string): number };
  PipeConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number };
}

function loadPipeWrap(): PipeBinding | null {
  if (SW === null) return null;
  try {
    const b = (process as unknown as { binding(name: string): unknown }).binding('pipe_wrap') as Partial<PipeBinding>;
    if (typeof b.Pipe !== 'function' || typeof b.PipeConnectWrap !== 'function' || typeof b.constants?.SOCKET !== 'number') return null;
    return b as PipeBinding;
  } catch {
    return null;
  }
}

const PW = loadPipeWrap();

/** A connection to a unix socket; writes made before it is up are queued. */
export function connectUnix(path: string): FrontSocket {
  if (PW !== null && SW !== null) {
    const h = new PW.Pipe(PW.constants.SOCKET);
    const sock = new RawFrontSocket(h, SW, 'connecting');
    const req = new PW.PipeConnectWrap();
    req.oncomplete = (status: number) => sock.connected(status);
    const err = h.connect(req, path);
    if (err !== 0) setImmediate(() => sock.connected(err));
    return sock;
  }
  const netMod = require('node:net') as typeof net;
  return new NetFrontSocket(netMod.connect(path));
}
