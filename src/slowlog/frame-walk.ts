// Pure: the PHP stack of a running php-cgi, walked over a function that
// reads its memory, as php-fpm's slowlog walks it (fpm_php_trace.c): the
// script from SG(request_info).path_translated, then from
// EG(current_execute_data) one frame per call, innermost first: the
// function's name (`[INCLUDE_OR_EVAL]` for an include, none for the
// top-level code, where the walk ends), and the file and line of the
// nearest older frame that runs PHP code (user function or eval), i.e. where
// the call was made. Pointers are checked as php-fpm checks them (non-zero,
// 8-byte aligned); strings are read as C strings of at most 1023 bytes, so a
// name with a NUL (an anonymous class) ends there as in php-fpm.
import type { PhpLayout } from './php-layout.js';

/** Reads `length` bytes at `address`; null when that memory cannot be read. */
export type ReadMem = (address: number, length: number) => Buffer | null;

export interface Frame {
  /** The zend_execute_data's address. */
  address: number;
  name: string;
  /** '' when the walk failed before the caller was found (php-fpm's line then stops after `name()`). */
  file: string;
  line: number;
  complete: boolean;
}

export interface Trace {
  /** null: the script's name could not be read (nothing else was). */
  script: string | null;
  frames: Frame[];
  /** A read failed: php-fpm's `+++ dump failed` follows what was written. */
  failed: boolean;
}

export interface TraceAddresses {
  executorGlobals: number;
  sapiGlobals: number;
}

/** fpm's buffer is 1024 bytes: 1023 characters and the NUL. */
const STR_MAX = 1023;
const CHUNK = 128;

class Fail extends Error {}

/** Memory access for one walk: throws Fail on an unreadable address. */
class Mem {
  constructor(private readonly read: ReadMem) {}

  word(addr: number): number {
    const b = this.read(addr, 8);
    if (b === null || b.length < 8) throw new Fail();
    const hi = b.readUInt32LE(4);
    // Beyond 2^53 is no user-space pointer (x86-64 has 47 bits): read it as 1, an invalid (misaligned) one.
    if (hi >= 0x200000) return 1;
    return hi * 0x100000000 + b.readUInt32LE(0);
  }

  u32(addr: number): number {
    const b = this.read(addr, 4);
    if (b === null || b.length < 4) throw new Fail();
    return b.readUInt32LE(0);
  }

  u8(addr: number): number {
    const b = this.read(addr, 1);
    if (b === null || b.length < 1) throw new Fail();
    return b[0];
  }

  /** A C string; reads in small pieces so as not to run off the end of a mapping. */
  cstr(addr: number): string {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < STR_MAX) {
      const want = Math.min(CHUNK, STR_MAX - n, 4096 - ((addr + n) % 4096));
      const b = this.read(addr + n, want);
      if (b === null || b.length === 0) throw new Fail();
      const nul = b.indexOf(0);
      if (nul >= 0) { parts.push(b.subarray(0, nul)); n += nul; break; }
      parts.push(b);
      n += b.length;
    }
    return Buffer.concat(parts).toString('latin1');
  }
}

const validPtr = (p: number): boolean => p !== 0 && p % 8 === 0;

/** Walks at most `depth` frames (request_slowlog_trace_depth). */
export function walkFrames(read: ReadMem, layout: PhpLayout, at: TraceAddresses, depth: number): Trace {
  const mem = new Mem(read);
  const trace: Trace = { script: null, frames: [], failed: false };
  try {
    trace.script = mem.cstr(mem.word(at.sapiGlobals + layout.sgPathTranslated));
    let ed = mem.word(at.executorGlobals + layout.egCurrentExecuteData);
    while (ed !== 0) {
      const fn = mem.word(ed + layout.edFunc);
      let name = '???';
      if (validPtr(fn)) {
        const fname = mem.word(fn + layout.fnName);
        if (fname !== 0) name = mem.cstr(fname + layout.strVal);
        else {
          const kind = mem.u32(ed + layout.edThisTypeInfo) & layout.callKindMask;
          if (kind === layout.callTopCode) break;
          if (kind === layout.callNestedCode) name = '[INCLUDE_OR_EVAL]';
        }
      }
      const frame: Frame = { address: ed, name, file: '', line: 0, complete: false };
      trace.frames.push(frame);
      ed = mem.word(ed + layout.edPrev);
      frame.file = 'unknown';
      const where = callerOf(mem, layout, ed);
      if (where !== null) { frame.file = where.file || 'unknown'; frame.line = where.line; }
      frame.complete = true;
      if (trace.frames.length >= depth) break;
    }
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    trace.failed = true;
    const last = trace.frames[trace.frames.length - 1];
    if (last !== undefined && !last.complete) last.file = '';
  }
  return trace;
}

/** The file and line of the first frame from `ed` on that runs PHP code. */
function callerOf(mem: Mem, layout: PhpLayout, ed: number): { file: string; line: number } | null {
  for (let p = ed; p !== 0; p = mem.word(p + layout.edPrev)) {
    const fn = mem.word(p + layout.edFunc);
    if (!validPtr(fn)) return null;
    // ZEND_USER_CODE(): user functions (2) and eval'd code (4), not internal ones (1).
    if ((mem.u8(fn + layout.fnType) & 1) !== 0) continue;
    const file = mem.cstr(mem.word(fn + layout.fnFilename) + layout.strVal);
    const op = mem.word(p + layout.edOpline);
    return { file, line: validPtr(op) ? mem.u32(op + layout.opLineno) : 0 };
  }
  return null;
}
