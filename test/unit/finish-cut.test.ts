// fastcgi_finish_request() on the master's side: the shim's mark lines in
// php-cgi's STDERR stream, found by ReplyRewriter, cut by FinishCut, driven as
// Child.onData drives them, with the reply cut into chunks anywhere (a mark
// split across chunks, PHP's header block across records). The web server
// gets the reply up to the mark and END_REQUEST, nothing after; PHP's
// messages after the mark still reach the log copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordScanner, type ScanSink } from '../../src/fastcgi/scanner.js';
import { RecordParser, RecordType, decodeEndRequest, encodeEndRequest, encodeRecord, type FcgiRecord } from '../../src/fastcgi/index.js';
import { ReplyRewriter } from '../../src/pool/reply-rewriter.js';
import { StderrMessages, DEFAULT_CAP, type MessageKind } from '../../src/pool/reply-stderr.js';
import { FinishCut, HOLD_AT, END_AT, MAX_HELD, withoutShimByte } from '../../src/pool/finish-cut.js';
import { FINISH_END, FINISH_HOLD } from '../../src/php/finish-request.js';
import { STATUS_MARK } from '../../src/log/status-mark.js';
import { prng } from '../helpers/prng.js';

const ID = 1;

/** Child.onData with the rewriter and, once a mark was seen, the FinishCut (Child.relayFinished). */
class Relay implements ScanSink {
  readonly scanner = new RecordScanner(this);
  readonly rw: ReplyRewriter;
  readonly written: Buffer[] = [];
  readonly logged: string[] = [];
  readonly marks: string[] = [];
  /** Chunks written after the web server's reply was complete (must stay 0). */
  late = 0;
  replied = false;
  ended = false;
  private chunk = Buffer.alloc(0);
  private recType = 0;

  constructor(toClient = true) {
    const messages = new StderrMessages(DEFAULT_CAP, (_k: MessageKind, t: string) => this.logged.push(t), (t) => this.marks.push(t), toClient);
    this.rw = new ReplyRewriter(messages);
    this.rw.reset();
  }

  read(bytes: Buffer): void {
    const chunk = Buffer.alloc(bytes.length + 16, 0x23).subarray(8, 8 + bytes.length);
    bytes.copy(chunk);
    this.chunk = chunk;
    const rw = this.rw;
    if (rw.pending) rw.begin(chunk);
    const stop = this.scanner.scan(chunk, 0);
    const out = rw.out !== null || this.scanner.partialHeaderStart >= 0 ? rw.end(chunk, this.scanner, stop) : null;
    const done = this.ended;
    let send: Buffer[];
    if (rw.finish !== null) {
      send = rw.finish.filter(out ?? [stop === chunk.length ? chunk : chunk.subarray(0, stop)]);
      if (done && !rw.finish.replied) send = send.concat(rw.finish.drain());
    } else send = out ?? [chunk.subarray(0, stop)];
    if (this.replied && send.length > 0) this.late++;
    for (const b of send) this.written.push(Buffer.from(b));
    if (rw.finish?.replied === true) this.replied = true;
    chunk.fill(0x5a); // the read buffer is reused
  }

  onHeader(type: number, id: number, contentLength: number, padding: number, headerStart: number, afterHeader: number): void {
    this.recType = type;
    if (type === RecordType.STDERR || this.rw.active) this.rw.header(this.chunk, this.scanner, type, id, contentLength, padding, headerStart, afterHeader);
  }

  onContent(chunk: Buffer, start: number, end: number): void {
    if (this.recType === RecordType.STDERR) this.rw.content(chunk, start, end);
  }

  onRecordEnd(type: number): boolean {
    if (type === RecordType.END_REQUEST) {
      this.ended = true;
      return false;
    }
    return true;
  }
}

const rec = (type: number, text: string): Buffer => encodeRecord(type, ID, Buffer.from(text, 'latin1'));
const out = (text: string): Buffer => rec(RecordType.STDOUT, text);
const err = (text: string): Buffer => rec(RecordType.STDERR, text);
const end = (): Buffer => encodeEndRequest(ID, 0, 0);
const HEAD = 'X-Test: yes\r\nContent-type: text/html; charset=UTF-8\r\n\r\n';

function relay(stream: Buffer, cuts: number[], toClient = true): Relay {
  const r = new Relay(toClient);
  const points = [0, ...cuts.filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length];
  for (let i = 0; i + 1 < points.length; i++) if (points[i + 1] > points[i]) r.read(stream.subarray(points[i], points[i + 1]));
  assert.equal(r.ended, true);
  return r;
}

function everyCut(stream: Buffer, check: (r: Relay, how: string) => void, toClient = true): void {
  check(relay(stream, [], toClient), 'whole');
  for (let c = 1; c < stream.length; c++) check(relay(stream, [c], toClient), `cut at ${c}`);
  check(relay(stream, Array.from({ length: stream.length }, (_, i) => i), toClient), 'byte by byte');
  for (let seed = 1; seed <= 100; seed++) {
    const rnd = prng(seed);
    const cuts = Array.from({ length: 1 + Math.floor(rnd() * 10) }, () => Math.floor(rnd() * stream.length));
    check(relay(stream, cuts, toClient), `seed ${seed}`);
  }
}

interface Seen { records: FcgiRecord[]; stdout: string; stderr: string; ends: number; types: number[] }

function parse(stream: Buffer): Seen {
  const records: FcgiRecord[] = [];
  new RecordParser((r) => records.push({ ...r, content: Buffer.from(r.content) })).execute(stream);
  let stdout = '';
  let stderr = '';
  let ends = 0;
  for (const r of records) {
    assert.equal(r.requestId, ID);
    if (r.type === RecordType.STDOUT) stdout += r.content.toString('latin1');
    if (r.type === RecordType.STDERR) stderr += r.content.toString('latin1');
    if (r.type === RecordType.END_REQUEST) ends++;
  }
  return { records, stdout, stderr, ends, types: records.map((r) => r.type) };
}

/** The web server's view: complete, ends with one END_REQUEST (appStatus 0, REQUEST_COMPLETE), nothing after it. */
function assertReplied(r: Relay, how: string): Seen {
  const s = parse(Buffer.concat(r.written));
  assert.equal(r.replied, true, how);
  assert.equal(r.late, 0, how);
  assert.equal(s.ends, 1, how);
  const last = s.records[s.records.length - 1];
  assert.equal(last.type, RecordType.END_REQUEST, how);
  assert.deepEqual(decodeEndRequest(last.content), { appStatus: 0, protocolStatus: 0 }, how);
  return s;
}

test('headers already out: the reply ends at the mark; later output, messages and the child\'s END_REQUEST stay in the master', () => {
  const stream = Buffer.concat([
    out(`${HEAD}early\n`), err(`${FINISH_END}\n`), err('after-finish\n'), out('late output'), err(`${STATUS_MARK} m2097152\n`), end(),
  ]);
  everyCut(stream, (r, how) => {
    const s = assertReplied(r, how);
    assert.equal(s.stdout, `${HEAD}early\n`, how);
    assert.equal(s.stderr, '', how);
    assert.deepEqual(s.types, [RecordType.STDOUT, RecordType.END_REQUEST], how);
    // The message after the finish is still logged (catch_workers_output), the access log's mark still read.
    assert.deepEqual(r.logged, ['after-finish'], how);
    assert.deepEqual(r.marks, [`${STATUS_MARK} m2097152`], how);
  });
});

test('a message before the mark in the same record goes to the web server before the end', () => {
  const w = 'PHP Warning:  Undefined variable $a in /srv/x.php on line 2';
  const stream = Buffer.concat([out(`${HEAD}x`), err(`${w}\n${FINISH_END}\n`), err('PHP Notice:  later in /srv/x.php on line 9\n'), end()]);
  everyCut(stream, (r, how) => {
    const s = assertReplied(r, how);
    assert.equal(s.stdout, `${HEAD}x`, how);
    assert.equal(s.stderr, `PHP message: ${w}`, how);
    assert.equal(s.types[0], RecordType.STDOUT, how);
  });
});

test('no headers out yet: the hold mark, PHP\'s header block and the shim\'s byte; the web server gets the block without the byte', () => {
  const stream = Buffer.concat([err(`${FINISH_HOLD}\n`), out(`${HEAD}\0`), err(`${FINISH_END}\n`), out('discarded'), end()]);
  everyCut(stream, (r, how) => {
    const s = assertReplied(r, how);
    assert.equal(s.stdout, HEAD, how);
    assert.deepEqual(s.types, [RecordType.STDOUT, RecordType.END_REQUEST], how);
  });
  // A HEAD request: PHP sent the headers and dropped the byte; the block stays whole.
  const head = Buffer.concat([err(`${FINISH_HOLD}\n`), out(HEAD), err(`${FINISH_END}\n`), end()]);
  everyCut(head, (r, how) => assert.equal(assertReplied(r, how).stdout, HEAD, how));
});

test('a header block over php-cgi\'s 8 KiB out buffer: held across records, the byte taken from the last', () => {
  const cookie = `Set-Cookie: c=${'v'.repeat(8100)}\r\n`;
  const block = `${cookie}Content-type: text/html\r\n\r\n`;
  // php-cgi cuts the block where its buffer is full: the byte lands in the second record.
  const stream = Buffer.concat([err(`${FINISH_HOLD}\n`), out(block.slice(0, 8184)), out(`${block.slice(8184)}\0`), err(`${FINISH_END}\n`), end()]);
  for (const cuts of [[], [5], [8200], [8230, 8240], Array.from({ length: 40 }, (_, i) => i * 211)]) {
    const s = assertReplied(relay(stream, cuts), `cuts ${cuts.length}`);
    assert.equal(s.stdout, block);
  }
  // The byte alone in its record.
  const alone = Buffer.concat([err(`${FINISH_HOLD}\n`), out(HEAD), out('\0'), err(`${FINISH_END}\n`), end()]);
  everyCut(alone, (r, how) => assert.equal(assertReplied(r, how).stdout, HEAD, how));
});

test('fastcgi.logging off for the pool: no message reaches the web server, the finish works the same', () => {
  const stream = Buffer.concat([err('before\n'), err(`${FINISH_HOLD}\n`), out(`${HEAD}\0`), err(`${FINISH_END}\n`), err('after\n'), end()]);
  everyCut(stream, (r, how) => {
    const s = assertReplied(r, how);
    assert.equal(s.stdout, HEAD, how);
    assert.equal(s.stderr, '', how);
    assert.deepEqual(r.logged, ['before', 'after'], how);
  }, false);
});

test('a mark with another token is an ordinary message, and a hold the shim never ends gives the reply as it came', () => {
  const forged = '\x1btsfpm:0000000000000000 end';
  const plain = Buffer.concat([out(`${HEAD}x`), err(`${forged}\n`), out('y'), end()]);
  everyCut(plain, (r, how) => {
    const s = parse(Buffer.concat(r.written));
    assert.equal(r.replied, false, how);
    assert.equal(s.stdout, `${HEAD}xy`, how);
    assert.equal(s.stderr, `PHP message: ${forged}`, how);
  });
  const hold = Buffer.concat([err(`${FINISH_HOLD}\n`), out(`${HEAD}x`), end()]);
  everyCut(hold, (r, how) => {
    const s = parse(Buffer.concat(r.written));
    assert.equal(r.replied, false, how);
    assert.equal(s.stdout, `${HEAD}x`, how);
    assert.equal(s.ends, 1, how);
  });
});

test('the next request on the connection starts clean', () => {
  const first = Buffer.concat([out(`${HEAD}a`), err(`${FINISH_END}\n`), out('gone'), end()]);
  const second = Buffer.concat([out(`${HEAD}b`), err('msg\n'), end()]);
  const r = new Relay();
  r.read(first);
  assert.equal(r.replied, true);
  assert.equal(parse(Buffer.concat(r.written)).stdout, `${HEAD}a`);
  // Child.onData: rw.reset() when the next reply begins.
  r.rw.reset();
  r.written.length = 0;
  r.replied = false;
  r.ended = false;
  r.read(second);
  const s = parse(Buffer.concat(r.written));
  assert.equal(r.rw.finish, null);
  assert.equal(s.stdout, `${HEAD}b`);
  assert.equal(s.stderr, 'PHP message: msg');
});

test('FinishCut alone: tokens, copies of what it holds, nothing after the end', () => {
  const cut = new FinishCut(7);
  const view = Buffer.from('abc');
  assert.deepEqual(cut.filter([view]), [view]); // passed as is, no copy
  const held = encodeRecord(RecordType.STDOUT, 7, Buffer.from('H\r\n\r\n\0'));
  assert.deepEqual(cut.filter([HOLD_AT, held]), []);
  held.fill(0); // the read buffer reused: the held copy is unaffected
  const sent = cut.filter([END_AT, Buffer.from('dropped')]);
  assert.equal(cut.replied, true);
  const s: FcgiRecord[] = [];
  new RecordParser((r) => s.push({ ...r, content: Buffer.from(r.content) })).execute(Buffer.concat(sent));
  assert.deepEqual(s.map((r) => [r.type, r.requestId, r.content.toString('latin1')]), [
    [RecordType.STDOUT, 7, 'H\r\n\r\n'],
    [RecordType.END_REQUEST, 7, s[1].content.toString('latin1')],
  ]);
  assert.deepEqual(cut.filter([Buffer.from('later')]), []);
  // A hold past any header block (forged): what was held and what follows go out as they came.
  const forged = new FinishCut(7);
  const big = Buffer.alloc(MAX_HELD - 10, 0x61);
  assert.deepEqual(forged.filter([HOLD_AT, big]), []);
  const more = Buffer.from('0123456789abc');
  const flushed = forged.filter([more, Buffer.from('z')]);
  assert.equal(Buffer.concat(flushed).toString('latin1'), `${big.toString('latin1')}0123456789abcz`);
  assert.equal(forged.replied, false);
  assert.deepEqual(withoutShimByte([Buffer.from([1, 6, 0])]), []); // not a record stream: nothing
});
