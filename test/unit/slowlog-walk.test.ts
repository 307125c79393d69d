// The PHP stack walk (src/slowlog/frame-walk.ts) over a fake process memory
// laid out as PHP 8.2 lays it out (zend_execute_data, zend_function,
// zend_string, zend_op), and the slowlog entry written from it
// (slowlog-entry.ts) in php-fpm's format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { walkFrames, type ReadMem } from '../../src/slowlog/frame-walk.js';
import { layoutFor, phpBuild, type PhpLayout } from '../../src/slowlog/php-layout.js';
import { EM_X86_64 } from '../../src/slowlog/elf.js';
import { formatEntry, scriptOnlyEntry } from '../../src/slowlog/slowlog-entry.js';

const L = layoutFor(EM_X86_64, phpBuild(Buffer.from('\0API20220829,NTS\0'))) as PhpLayout;

/** A sparse address space: mapped regions; a read past a region's end is short, an unmapped one fails. */
class FakeMemory {
  private readonly regions: Array<{ at: number; buf: Buffer }> = [];
  private next = 0x7f0000001000;

  map(at: number, size: number): Buffer {
    const buf = Buffer.alloc(size);
    this.regions.push({ at, buf });
    return buf;
  }

  /** Allocates `size` bytes (8-aligned) in a fresh region of their own. */
  alloc(size: number): { at: number; buf: Buffer } {
    const at = this.next;
    this.next += Math.ceil((size + 64) / 4096) * 4096;
    return { at, buf: this.map(at, size) };
  }

  str(s: string): number {
    const bytes = Buffer.from(s, 'latin1');
    const z = this.alloc(L.strVal + bytes.length + 1);
    z.buf.writeBigUInt64LE(BigInt(bytes.length), 16);
    bytes.copy(z.buf, L.strVal);
    return z.at;
  }

  cstring(s: string): number {
    const z = this.alloc(s.length + 1);
    z.buf.write(s, 'latin1');
    return z.at;
  }

  op(lineno: number): number {
    const z = this.alloc(32);
    z.buf.writeUInt32LE(lineno, L.opLineno);
    return z.at;
  }

  fn(type: 1 | 2 | 4, name: string | null, file?: string): number {
    const z = this.alloc(256);
    z.buf[L.fnType] = type;
    if (name !== null) z.buf.writeBigUInt64LE(BigInt(this.str(name)), L.fnName);
    if (file !== undefined) z.buf.writeBigUInt64LE(BigInt(this.str(file)), L.fnFilename);
    return z.at;
  }

  write(addr: number, value: number, bytes: 4 | 8 = 8): void {
    const r = this.regions.find((x) => addr >= x.at && addr + bytes <= x.at + x.buf.length);
    if (r === undefined) throw new Error(`unmapped ${addr.toString(16)}`);
    if (bytes === 8) r.buf.writeBigUInt64LE(BigInt(value), addr - r.at);
    else r.buf.writeUInt32LE(value, addr - r.at);
  }

  readonly read: ReadMem = (address, length) => {
    const r = this.regions.find((x) => address >= x.at && address < x.at + x.buf.length);
    if (r === undefined) return null;
    return Buffer.from(r.buf.subarray(address - r.at, Math.min(r.buf.length, address - r.at + length)));
  };
}

interface FrameSpec { fn: number; line?: number; kind?: number }

/** Globals and a VM stack of frames, innermost first; returns the addresses the walk starts from. */
function process(mem: FakeMemory, script: string | null, frames: FrameSpec[]) {
  const sg = mem.alloc(552);
  const eg = mem.alloc(1800);
  if (script !== null) sg.buf.writeBigUInt64LE(BigInt(mem.cstring(script)), L.sgPathTranslated);
  const stack = mem.alloc(80 * frames.length);
  // Outermost at the bottom of the stack, as PHP's VM stack grows.
  const addrOf = (i: number): number => stack.at + 80 * (frames.length - 1 - i);
  frames.forEach((f, i) => {
    const ed = addrOf(i) - stack.at;
    stack.buf.writeBigUInt64LE(BigInt(f.fn), ed + L.edFunc);
    if (f.line !== undefined) stack.buf.writeBigUInt64LE(BigInt(mem.op(f.line)), ed + L.edOpline);
    stack.buf.writeUInt32LE(f.kind ?? 0, ed + L.edThisTypeInfo);
    stack.buf.writeBigUInt64LE(BigInt(i + 1 < frames.length ? addrOf(i + 1) : 0), ed + L.edPrev);
  });
  if (frames.length > 0) eg.buf.writeBigUInt64LE(BigInt(addrOf(0)), L.egCurrentExecuteData);
  return { at: { executorGlobals: eg.at, sapiGlobals: sg.at }, frameAt: addrOf };
}

const TOP = 0x30000;
const NESTED = 0x10000;
const shape = (t: ReturnType<typeof walkFrames>): string[] => t.frames.map((f) => `${f.name}() ${f.complete ? `${f.file}:${f.line}` : '(cut)'}`);

test('usleep() in inner() in outer(): names, callers\' files and lines, stops at the top-level code', () => {
  const m = new FakeMemory();
  const p = process(m, '/srv/slow.php', [
    { fn: m.fn(1, 'usleep') },
    { fn: m.fn(2, 'inner', '/srv/slow.php'), line: 3 },
    { fn: m.fn(2, 'outer', '/srv/slow.php'), line: 6 },
    { fn: m.fn(2, null, '/srv/slow.php'), line: 8, kind: TOP },
  ]);
  const t = walkFrames(m.read, L, p.at, 20);
  assert.equal(t.script, '/srv/slow.php');
  assert.equal(t.failed, false);
  assert.deepEqual(shape(t), ['usleep() /srv/slow.php:3', 'inner() /srv/slow.php:6', 'outer() /srv/slow.php:8']);
  assert.deepEqual(t.frames.map((f) => f.address), [p.frameAt(0), p.frameAt(1), p.frameAt(2)]);
});

test('include, closures called by internal functions, eval: the nearest PHP frame is the caller', () => {
  const m = new FakeMemory();
  const p = process(m, '/srv/index.php', [
    { fn: m.fn(1, 'sleep') },
    { fn: m.fn(2, '{closure}', '/srv/inc.php'), line: 4 },
    { fn: m.fn(1, 'array_map') },
    { fn: m.fn(4, null, "/srv/inc.php(2) : eval()'d code"), line: 1, kind: NESTED },
    { fn: m.fn(2, null, '/srv/inc.php'), line: 2, kind: NESTED },
    { fn: m.fn(2, null, '/srv/index.php'), line: 10, kind: TOP },
  ]);
  const t = walkFrames(m.read, L, p.at, 20);
  assert.deepEqual(shape(t), [
    'sleep() /srv/inc.php:4',
    "{closure}() /srv/inc.php(2) : eval()'d code:1", // array_map is internal: eval'd code is the next PHP frame
    "array_map() /srv/inc.php(2) : eval()'d code:1",
    '[INCLUDE_OR_EVAL]() /srv/inc.php:2',
    '[INCLUDE_OR_EVAL]() /srv/index.php:10',
  ]);
});

test('request_slowlog_trace_depth caps the frames', () => {
  const m = new FakeMemory();
  const frames: FrameSpec[] = [{ fn: m.fn(1, 'usleep') }];
  for (let i = 0; i < 30; i++) frames.push({ fn: m.fn(2, `f${i}`, '/srv/deep.php'), line: 100 + i });
  frames.push({ fn: m.fn(2, null, '/srv/deep.php'), line: 1, kind: TOP });
  const p = process(m, '/srv/deep.php', frames);
  assert.equal(walkFrames(m.read, L, p.at, 20).frames.length, 20);
  assert.deepEqual(shape(walkFrames(m.read, L, p.at, 2)), ['usleep() /srv/deep.php:100', 'f0() /srv/deep.php:101']);
  assert.equal(walkFrames(m.read, L, p.at, 100).frames.length, 31);
});

test('bad function pointers read as ???, a frame without PHP caller as unknown:0', () => {
  const m = new FakeMemory();
  const p = process(m, '/srv/x.php', [{ fn: m.fn(1, 'usleep') }, { fn: 0x1234 /* misaligned */ }, { fn: 0 }]);
  const t = walkFrames(m.read, L, p.at, 20);
  assert.equal(t.failed, false);
  assert.deepEqual(shape(t), ['usleep() unknown:0', '???() unknown:0', '???() unknown:0']);
});

test('names end at a NUL (anonymous classes) and at 1023 bytes, as php-fpm reads them', () => {
  const m = new FakeMemory();
  const long = 'x'.repeat(1500);
  const p = process(m, '/srv/a.php', [
    { fn: m.fn(2, 'class@anonymous\0/srv/a.php:3$0', '/srv/a.php'), line: 5 },
    { fn: m.fn(2, long, '/srv/a.php'), line: 9 },
    { fn: m.fn(2, null, '/srv/a.php'), line: 12, kind: TOP },
  ]);
  const t = walkFrames(m.read, L, p.at, 20);
  assert.equal(t.frames[0].name, 'class@anonymous');
  assert.equal(t.frames[1].name, 'x'.repeat(1023));
  assert.equal(t.frames[1].line, 12);
});

test('an idle child has no frames; a missing script or unreadable memory fails as php-fpm\'s dump fails', () => {
  const m = new FakeMemory();
  const idle = process(m, '/srv/idle.php', []);
  assert.deepEqual(walkFrames(m.read, L, idle.at, 20), { script: '/srv/idle.php', frames: [], failed: false });

  const none = process(m, null, [{ fn: m.fn(1, 'usleep') }]);
  const t = walkFrames(m.read, L, none.at, 20);
  assert.equal(t.script, null);
  assert.equal(t.failed, true);

  // The stack is torn between two reads: a frame's prev points into unmapped memory.
  const torn = process(m, '/srv/t.php', [{ fn: m.fn(1, 'usleep') }, { fn: m.fn(2, 'inner', '/srv/t.php'), line: 3 }]);
  m.write(torn.frameAt(0) + L.edPrev, 0x10);
  const tt = walkFrames(m.read, L, torn.at, 20);
  assert.equal(tt.failed, true);
  assert.deepEqual(shape(tt), ['usleep() (cut)']);

  assert.deepEqual(walkFrames(() => null, L, torn.at, 20), { script: null, frames: [], failed: true });
});

const HEAD = { date: new Date(2026, 11, 1, 0, 6, 39, 722), usec: 722776, debug: false, pool: 'www', pid: 11267 };

test('the entry as php-fpm writes it; microseconds with log_level = debug; +++ dump failed after what was read', () => {
  const m = new FakeMemory();
  const p = process(m, '/srv/slow.php', [
    { fn: m.fn(1, 'usleep') },
    { fn: m.fn(2, 'inner', '/srv/slow.php'), line: 3 },
    { fn: m.fn(2, null, '/srv/slow.php'), line: 6, kind: TOP },
  ]);
  const a = (i: number): string => p.frameAt(i).toString(16).padStart(16, '0');
  const t = walkFrames(m.read, L, p.at, 20);
  assert.equal(formatEntry(HEAD, t),
    `\n[01-Dec-2026 00:06:39]  [pool www] pid 11267\nscript_filename = /srv/slow.php\n[0x${a(0)}] usleep() /srv/slow.php:3\n[0x${a(1)}] inner() /srv/slow.php:6\n`);
  assert.match(formatEntry({ ...HEAD, debug: true }, t), /^\n\[01-Dec-2026 00:06:39\.722776\]  \[pool www\] pid 11267\n/);

  m.write(p.frameAt(0) + L.edPrev, 0x10);
  assert.equal(formatEntry(HEAD, walkFrames(m.read, L, p.at, 20)),
    `\n[01-Dec-2026 00:06:39]  [pool www] pid 11267\nscript_filename = /srv/slow.php\n[0x${a(0)}] usleep()+++ dump failed\n`);
  assert.equal(formatEntry(HEAD, { script: null, frames: [], failed: true }), '\n[01-Dec-2026 00:06:39]  [pool www] pid 11267\n+++ dump failed\n');
  assert.equal(scriptOnlyEntry(HEAD, '/srv/slow.php'), '\n[01-Dec-2026 00:06:39]  [pool www] pid 11267\nscript_filename = /srv/slow.php\n');
});
