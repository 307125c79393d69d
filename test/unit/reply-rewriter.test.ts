// ReplyRewriter over the RecordScanner, driven as Child.onData drives it: a
// php-cgi reply cut into chunks anywhere comes out as php-fpm's (STDERR text,
// the unknown-script 404), and a reply without STDERR records goes through
// chunk by chunk untouched (the very same buffers: nothing copied).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordScanner, type ScanSink } from '../../src/fastcgi/scanner.js';
import {
  RecordParser,
  RecordType,
  encodeEndRequest,
  encodeHeader,
  encodeRecord,
  type FcgiRecord,
} from '../../src/fastcgi/index.js';
import { ReplyRewriter } from '../../src/pool/reply-rewriter.js';
import { DEFAULT_CAP } from '../../src/pool/reply-stderr.js';
import { prng } from '../helpers/prng.js';

const ID = 1;

/** Child.onData/onHeader/onContent/onRecordEnd with the rewriter, writing into a list. */
class Relay implements ScanSink {
  readonly scanner = new RecordScanner(this);
  readonly rw = new ReplyRewriter();
  readonly written: Buffer[] = [];
  /** Chunks written as they came (the common path). */
  passed = 0;
  ended = false;
  private chunk = Buffer.alloc(0);
  private recType = 0;
  private first = true;

  /** One read: `bytes` land in a read buffer that the next read overwrites. */
  read(bytes: Buffer): void {
    const chunk = Buffer.alloc(bytes.length + 16, 0x23).subarray(8, 8 + bytes.length);
    bytes.copy(chunk);
    this.chunk = chunk;
    const rw = this.rw;
    if (this.first) {
      this.first = false;
      rw.reset();
    }
    if (rw.pending) rw.begin(chunk);
    const stop = this.scanner.scan(chunk, 0);
    const out = rw.out !== null || this.scanner.partialHeaderStart >= 0 ? rw.end(chunk, this.scanner, stop) : null;
    if (out === null) {
      this.passed++;
      assert.equal(stop, chunk.length);
      this.written.push(Buffer.from(chunk));
    } else {
      for (const b of out) this.written.push(Buffer.from(b));
    }
    chunk.fill(0x5a);
    if (this.ended) {
      this.ended = false;
      this.first = true;
    }
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

interface Reply {
  /** Types in order, runs of one type merged. */
  types: string[];
  stdout: string;
  stderr: string;
  emptyStderr: number;
  records: FcgiRecord[];
}

const NAMES: Record<number, string> = { [RecordType.STDOUT]: 'out', [RecordType.STDERR]: 'err', [RecordType.END_REQUEST]: 'end' };

function parse(stream: Buffer): Reply {
  const records: FcgiRecord[] = [];
  new RecordParser((r) => records.push({ ...r, content: Buffer.from(r.content) })).execute(stream);
  const types: string[] = [];
  let stdout = '';
  let stderr = '';
  let emptyStderr = 0;
  for (const r of records) {
    assert.equal(r.requestId, ID);
    const name = NAMES[r.type] ?? String(r.type);
    if (types[types.length - 1] !== name) types.push(name);
    if (r.type === RecordType.STDOUT) stdout += r.content.toString('latin1');
    if (r.type === RecordType.STDERR) {
      stderr += r.content.toString('latin1');
      if (r.content.length === 0) emptyStderr++;
    }
  }
  return { types, stdout, stderr, emptyStderr, records };
}

const rec = (type: number, text: string, pad?: number): Buffer => {
  const content = Buffer.from(text, 'latin1');
  if (pad === undefined) return encodeRecord(type, ID, content);
  return Buffer.concat([encodeHeader(type, ID, content.length, pad), content, Buffer.alloc(pad)]);
};
const end = (): Buffer => encodeEndRequest(ID, 0, 0);

function relay(stream: Buffer, cuts: number[]): Relay {
  const r = new Relay();
  const points = [0, ...cuts.filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length];
  for (let i = 0; i + 1 < points.length; i++) if (points[i + 1] > points[i]) r.read(stream.subarray(points[i], points[i + 1]));
  assert.equal(r.rw.pending, false, 'nothing held after END_REQUEST');
  return r;
}

/** Every single cut, every pair of cuts near the records' edges, byte by byte, and seeded random cuttings. */
function everyCut(stream: Buffer, checkOne: (r: Relay, how: string) => void): void {
  checkOne(relay(stream, []), 'whole');
  for (let c = 1; c < stream.length; c++) checkOne(relay(stream, [c]), `cut at ${c}`);
  if (stream.length <= 400) {
    for (let a = 1; a < stream.length; a++) for (let b = a + 1; b < stream.length; b += 3) checkOne(relay(stream, [a, b]), `cuts at ${a}, ${b}`);
  }
  checkOne(relay(stream, Array.from({ length: stream.length }, (_, i) => i)), 'byte by byte');
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = prng(seed);
    const cuts = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => Math.floor(rnd() * stream.length));
    checkOne(relay(stream, cuts), `seed ${seed}`);
  }
}

const W1 = 'PHP Warning:  Undefined variable $a in /srv/x.php on line 2';
const W2 = 'PHP Warning:  Undefined variable $a in /srv/x.php on line 3';
const HEAD = 'X-Powered-By: PHP/8.2.36\r\nContent-type: text/html; charset=UTF-8\r\n\r\n';

test('two warnings in one STDERR record: php-fpm\'s text at any chunking (php-src bug77106)', () => {
  const stream = Buffer.concat([rec(RecordType.STDERR, `${W1}\n${W2}\n`), rec(RecordType.STDOUT, `${HEAD}body`), end()]);
  everyCut(stream, (r, how) => {
    const p = parse(Buffer.concat(r.written));
    assert.equal(p.stderr, `PHP message: ${W1}; PHP message: ${W2}`, how);
    assert.equal(p.stdout, `${HEAD}body`, how);
    assert.deepEqual(p.types, ['err', 'out', 'end'], how);
    assert.equal(p.emptyStderr, 0, how);
  });
});

test('messages across records (php-cgi\'s 8 KiB cut, padding) and interleaved with STDOUT keep their order', () => {
  const msg = `PHP Warning:  ${'y'.repeat(40)} in /srv/x.php on line 7`;
  const stream = Buffer.concat([
    rec(RecordType.STDERR, `${W1}\nPHP Warn`, 3),
    rec(RecordType.STDERR, `ing:  cut in /srv/x.php on line 4\n`, 0),
    rec(RecordType.STDOUT, HEAD),
    rec(RecordType.STDOUT, 'first'),
    rec(RecordType.STDERR, `${msg}\n`, 7),
    rec(RecordType.STDOUT, 'second'),
    rec(RecordType.STDERR, 'user one\nuser two\n'),
    end(),
  ]);
  everyCut(stream, (r, how) => {
    const p = parse(Buffer.concat(r.written));
    assert.equal(p.stderr, `PHP message: ${W1}; PHP message: PHP Warning:  cut in /srv/x.php on line 4; PHP message: ${msg}; PHP message: user one; PHP message: user two`, how);
    assert.equal(p.stdout, `${HEAD}firstsecond`, how);
    assert.deepEqual(p.types, ['err', 'out', 'err', 'out', 'err', 'end'], how);
    // Each STDERR piece says where it was: the text of the second run is after "first".
    const i = p.records.findIndex((x) => x.content.toString('latin1') === 'first');
    const j = p.records.findIndex((x) => x.content.toString('latin1') === 'second');
    assert.equal(p.records.slice(i + 1, j).map((x) => x.content.toString('latin1')).join(''), `; PHP message: ${msg}`, how);
  });
});

test('a run that ends without its newline being resolved is settled before the next record', () => {
  // "PHP Fatal error: ... :6\n" is unfinished (no "on line N"): the STDOUT record that follows ends it.
  const stream = Buffer.concat([
    rec(RecordType.STDERR, 'PHP Fatal error:  x in /srv/x.php:6\n'),
    rec(RecordType.STDOUT, HEAD),
    rec(RecordType.STDERR, 'user\n'),
    end(),
  ]);
  everyCut(stream, (r, how) => {
    const p = parse(Buffer.concat(r.written));
    assert.equal(p.stderr, 'PHP message: PHP Fatal error:  x in /srv/x.php:6; PHP message: user', how);
    assert.deepEqual(p.types, ['err', 'out', 'err', 'end'], how);
  });
});

test('a reply without STDERR goes through untouched: the same chunks, nothing copied, unless a chunk ends inside a header', () => {
  const body = Buffer.alloc(3000, 0x61).toString('latin1');
  const recs = [rec(RecordType.STDOUT, HEAD), rec(RecordType.STDOUT, body), rec(RecordType.STDOUT, 'tail', 5), end()];
  const stream = Buffer.concat(recs);
  const headers: Array<[number, number]> = [];
  for (let at = 0, i = 0; i < recs.length; at += recs[i].length, i++) headers.push([at, at + 8]);
  const firstStdoutHeader = headers[0];
  for (let c = 1; c < stream.length; c++) {
    const r = relay(stream, [c]);
    assert.equal(Buffer.concat(r.written).equals(stream), true, `cut at ${c}`);
    const inHeader = headers.find(([a, b]) => c > a && c < b);
    // Held back: a cut inside the first STDOUT header (still looked at for the 404), or after a header's first byte (type unknown).
    const held = inHeader !== undefined && (inHeader === firstStdoutHeader || c === inHeader[0] + 1);
    assert.equal(r.passed, held ? 0 : 2, `cut at ${c}`);
  }
  // Two requests in a row on one connection.
  const r = new Relay();
  r.read(stream);
  r.read(stream);
  assert.equal(r.passed, 2);
});

const CGI_404 = 'Status: 404 Not Found\r\nX-Powered-By: PHP/8.2.36\r\nContent-type: text/html; charset=UTF-8\r\n\r\nNo input file specified.\n';
const FPM_404 = 'Status: 404 Not Found\r\nX-Powered-By: PHP/8.2.36\r\nContent-type: text/html; charset=UTF-8\r\n\r\nFile not found.\n';

test('unknown script: php-cgi\'s 404 with its headers becomes php-fpm\'s (STDERR record first, then the same headers)', () => {
  const stream = Buffer.concat([rec(RecordType.STDOUT, CGI_404), end()]);
  const p = parse(Buffer.concat(relay(stream, []).written));
  assert.deepEqual(p.records.map((x) => [x.type, x.content.toString('latin1')]), [
    [RecordType.STDERR, 'Primary script unknown'],
    [RecordType.STDOUT, FPM_404],
    [RecordType.END_REQUEST, p.records[2].content.toString('latin1')],
  ]);
  // Without X-Powered-By (expose_php=Off) too.
  const bare = 'Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\n';
  const p2 = parse(Buffer.concat(relay(Buffer.concat([rec(RecordType.STDOUT, `${bare}No input file specified.\n`), end()]), []).written));
  assert.equal(p2.stdout, `${bare}File not found.\n`);
  assert.equal(p2.stderr, 'Primary script unknown');
  // The record is looked at where its header completes: it must be whole in that chunk.
  const recEnd = rec(RecordType.STDOUT, CGI_404).length;
  for (let c = 1; c < stream.length; c++) {
    const q = parse(Buffer.concat(relay(stream, [c]).written));
    const rewritten = c <= 7 || c >= recEnd;
    assert.equal(q.stdout, rewritten ? FPM_404 : CGI_404, `cut at ${c}`);
    assert.equal(q.stderr, rewritten ? 'Primary script unknown' : '', `cut at ${c}`);
  }
});

test('unknown script after startup warnings: "; Primary script unknown", as php-fpm', () => {
  const warn = 'PHP Warning:  Unknown: Input variables exceeded 1000. in Unknown on line 0';
  const stream = Buffer.concat([rec(RecordType.STDERR, `${warn}\n`), rec(RecordType.STDOUT, CGI_404), end()]);
  everyCut(stream, (r, how) => {
    const p = parse(Buffer.concat(r.written));
    if (p.stdout === CGI_404) return; // the 404 record was cut by a chunk's end (see above)
    assert.equal(p.stdout, FPM_404, how);
    assert.equal(p.stderr, `PHP message: ${warn}; Primary script unknown`, how);
  });
  assert.equal(parse(Buffer.concat(relay(stream, []).written)).stdout, FPM_404);
});

test('only that exact 404 is rewritten', () => {
  for (const text of [
    'Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nsomething else\nNo input file specified.\n', // other body
    'Status: 404 Not Found\r\n\r\nNo input file specified.\n\r\n\r\nNo input file specified.\n', // body is not exactly that
    'Content-type: text/html\r\n\r\nNo input file specified.\n', // no 404
    'Status: 403 Forbidden\r\n\r\nNo input file specified.\n',
  ]) {
    const p = parse(Buffer.concat(relay(Buffer.concat([rec(RecordType.STDOUT, text), end()]), []).written));
    assert.equal(p.stdout, text);
    assert.equal(p.stderr, '');
  }
  // Only the first STDOUT record.
  const later = Buffer.concat([rec(RecordType.STDOUT, HEAD), rec(RecordType.STDOUT, CGI_404), end()]);
  assert.equal(parse(Buffer.concat(relay(later, []).written)).stdout, HEAD + CGI_404);
  // The minimal form (status line only).
  const min = 'Status: 404 Not Found\r\n\r\nNo input file specified.\n';
  assert.equal(parse(Buffer.concat(relay(Buffer.concat([rec(RecordType.STDOUT, min), end()]), []).written)).stdout, 'Status: 404 Not Found\r\n\r\nFile not found.\n');
});

test('the "; " state is per request', () => {
  const stream = Buffer.concat([rec(RecordType.STDERR, `${W1}\n`), rec(RecordType.STDOUT, HEAD), end()]);
  const r = new Relay();
  r.read(stream);
  r.read(Buffer.concat([stream.subarray(0, 5)]));
  r.read(stream.subarray(5));
  const all = Buffer.concat(r.written);
  const p = parse(all);
  assert.equal(p.stderr, `PHP message: ${W1}PHP message: ${W1}`);
});

test('an empty STDERR record (end of the stream) is kept, after any held text', () => {
  const stream = Buffer.concat([rec(RecordType.STDERR, 'PHP Fatal error:  x:1\n'), rec(RecordType.STDERR, ''), rec(RecordType.STDOUT, HEAD), end()]);
  everyCut(stream, (r, how) => {
    const p = parse(Buffer.concat(r.written));
    assert.equal(p.stderr, 'PHP message: PHP Fatal error:  x:1', how);
    assert.equal(p.emptyStderr, 1, how);
  });
});

test('a STDERR text longer than one record goes out as several', () => {
  const line = 'u'.repeat(60000);
  const stream = Buffer.concat([rec(RecordType.STDERR, `${line}\n${'\n'.repeat(3000)}`), rec(RecordType.STDOUT, HEAD), end()]);
  for (const cuts of [[], [100], [60001], [61000, 62000]]) {
    const p = parse(Buffer.concat(relay(stream, cuts).written));
    // php-fpm's worker cuts the message at log_limit (1024 by default: 999 bytes and "...").
    assert.equal(p.stderr, `PHP message: ${line.slice(0, DEFAULT_CAP - 3)}...${'; PHP message: '.repeat(3000)}`);
  }
});
