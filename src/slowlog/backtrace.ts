// Reads the PHP stack of a running php-cgi from outside: the binary through
// /proc/PID/exe (the ELF symbols executor_globals and sapi_globals, the PHP
// build), where it is loaded through /proc/PID/maps, and the frames through
// /proc/PID/mem with positional reads (frame-walk.ts). No ptrace, no native
// code; what it needs is permission to read the child's memory: the master
// is its parent's ancestor (Yama scope 1) and runs as the same user or as
// root (CAP_SYS_PTRACE, which also covers non-dumpable children).
//
// Consistency: the child is not stopped (php-fpm stops its worker with
// ptrace for the trace). The stack is walked until two walks in a row agree
// (at most TRIES walks, ~0.2 ms each). Stopping would not make the picture
// exact either: PHP's VM keeps the running frame in a register and updates
// EG(current_execute_data) only at some calls and returns, so a stopped
// worker busy in a call loop shows a truncated stack about as often (0.6 %
// of walks, against 0.4 % unstopped after agreement; a blocked one, the
// slowlog's usual case, 0 in 5000 both ways). Reading cannot harm the child,
// and nothing can leave it stopped. docs/slowlog.md has the measurements.
import * as fs from 'node:fs';
import { readElf, fdReader, ElfError, type Segment } from './elf.js';
import { devString, imageStart, loadBias } from './load-base.js';
import { EG_SYMBOL, SG_SYMBOL, layoutFor, phpBuild, type PhpLayout } from './php-layout.js';
import { walkFrames, type ReadMem, type Trace } from './frame-walk.js';

/** What is known about one php-cgi binary (by device, inode, size and mtime). */
interface Image {
  type: number;
  segments: Segment[];
  layout: PhpLayout | null;
  eg: number;
  sg: number;
  /** Why there are no frames for this binary (unknown build, no symbols). */
  unsupported: string | null;
}

export type Outcome =
  /** `settled`: two walks in a row agreed. */
  | { kind: 'trace'; trace: Trace; settled: boolean }
  /** The binary's PHP is not one whose memory tsfpm can read; `exe` names it for the log. */
  | { kind: 'unsupported'; exe: string; reason: string }
  /** A /proc file could not be opened or read (the child is gone, or reading is not permitted). */
  | { kind: 'error'; what: string; err: NodeJS.ErrnoException };

/** Walks at most this many times for two in a row that agree. */
const TRIES = 5;

const images = new Map<string, Image>();

export class ProcError extends Error {
  constructor(readonly what: string, readonly err: NodeJS.ErrnoException) { super(`${what}: ${err.message}`); }
}

function procOpen(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    throw new ProcError(file, e as NodeJS.ErrnoException);
  }
}

function imageOf(fd: number): { key: string; dev: string; inode: number } {
  const st = fs.fstatSync(fd, { bigint: true });
  return { key: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`, dev: devString(st.dev), inode: Number(st.ino) };
}

function loadImage(fd: number): Image {
  let elf;
  try {
    elf = readElf(fdReader(fd, fs.readSync), [EG_SYMBOL, SG_SYMBOL], '.rodata');
  } catch (e) {
    if (!(e instanceof ElfError)) throw e;
    return { type: 0, segments: [], layout: null, eg: 0, sg: 0, unsupported: `not a binary tsfpm can read (${e.message})` };
  }
  const eg = elf.symbols.get(EG_SYMBOL);
  const sg = elf.symbols.get(SG_SYMBOL);
  const found = layoutFor(elf.machine, phpBuild(elf.section));
  let unsupported: string | null = typeof found === 'string' ? found : null;
  if (unsupported === null && (eg === undefined || sg === undefined)) unsupported = `no ${EG_SYMBOL}/${SG_SYMBOL} symbols in the binary`;
  return {
    type: elf.type, segments: elf.segments, layout: typeof found === 'string' ? null : found,
    eg: eg?.value ?? 0, sg: sg?.value ?? 0, unsupported,
  };
}

/** Positional reads of /proc/PID/mem; null for memory that is not mapped. */
function memReader(fd: number): ReadMem {
  return (address, length) => {
    const b = Buffer.allocUnsafe(length);
    try {
      const n = fs.readSync(fd, b, 0, length, address);
      return b.subarray(0, n);
    } catch {
      return null;
    }
  };
}

function sameTrace(a: Trace, b: Trace): boolean {
  if (a.script !== b.script || a.failed !== b.failed || a.frames.length !== b.frames.length) return false;
  return a.frames.every((f, i) => {
    const g = b.frames[i];
    return f.address === g.address && f.name === g.name && f.file === g.file && f.line === g.line && f.complete === g.complete;
  });
}

/**
 * The stack of php-cgi process `pid`, at most `depth` frames. Synchronous:
 * ~0.5 ms once the binary is known (its first trace parses the ELF, ~10 ms).
 */
export function backtrace(pid: number, depth: number): Outcome {
  const fds: number[] = [];
  try {
    const exeFd = procOpen(`/proc/${pid}/exe`);
    fds.push(exeFd);
    const id = imageOf(exeFd);
    let image = images.get(id.key);
    if (image === undefined) {
      image = loadImage(exeFd);
      images.set(id.key, image);
    }
    if (image.unsupported !== null || image.layout === null) {
      let exe = `/proc/${pid}/exe`;
      try { exe = fs.readlinkSync(exe); } catch { /* keep the /proc name */ }
      return { kind: 'unsupported', exe, reason: image.unsupported ?? 'unknown layout' };
    }
    let maps: string;
    let path = '';
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'latin1');
      path = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch (e) {
      throw new ProcError(`/proc/${pid}/maps`, e as NodeJS.ErrnoException);
    }
    const bias = loadBias(image.type, image.segments, imageStart(maps, { dev: id.dev, inode: id.inode, path }));
    if (bias === null) {
      const err = Object.assign(new Error('the binary is not mapped'), { code: 'ENOENT', errno: 2 });
      throw new ProcError(`/proc/${pid}/maps`, err);
    }
    const memFd = procOpen(`/proc/${pid}/mem`);
    fds.push(memFd);
    const read = memReader(memFd);
    const at = { executorGlobals: bias + image.eg, sapiGlobals: bias + image.sg };
    const layout = image.layout;
    let last = walkFrames(read, layout, at, depth);
    for (let i = 1; i < TRIES; i++) {
      const again = walkFrames(read, layout, at, depth);
      if (sameTrace(last, again)) return { kind: 'trace', trace: again, settled: true };
      last = again;
    }
    return { kind: 'trace', trace: last, settled: false };
  } catch (e) {
    if (e instanceof ProcError) return { kind: 'error', what: e.what, err: e.err };
    throw e;
  } finally {
    for (const fd of fds) { try { fs.closeSync(fd); } catch { /* closed */ } }
  }
}

/** Forgets the binaries seen (tests; a php-cgi upgraded in place gets a new inode anyway). */
export function forgetImages(): void {
  images.clear();
}
