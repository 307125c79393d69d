// Worker output as php-fpm's master writes it: the zlog stream model
// (src/log/zlog-stream.ts), the reader (1023-byte reads, "\0fscf\0") and the
// lines php-fpm's worker writes for PHP's messages. Expected texts come from
// php-src's log-* tests and from php-fpm8.2 runs (noted where).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZlogStream } from '../../src/log/zlog-stream.js';
import { messageCap, readChunk, workerLine, WorkerOutput } from '../../src/pool/worker-output.js';
import { ErrorLog } from '../../src/log/error-log.js';

const PREFIX = '[30-Nov-2026 22:00:00] WARNING: ';
const MSG = '[pool www] child 42 said into stderr: ';

function stream(o: { limit?: number; buffering?: boolean; decorate?: boolean; prefixed?: boolean } = {}): ZlogStream {
  const s = new ZlogStream({
    limit: o.limit ?? 1024, buffering: o.buffering ?? true, decorate: o.decorate ?? true,
    prefix: () => PREFIX, prefixed: o.prefixed ?? true,
  });
  s.setMsgPrefix(MSG);
  return s;
}

/** Feeds the chunks (one read callback each), then finishes; returns the lines written. */
function lines(s: ZlogStream, chunks: string[]): string[] {
  let out = '';
  for (const c of chunks) { readChunk(s, c); out += s.take(); }
  s.finish();
  out += s.take();
  return out.split('\n').slice(0, -1);
}

test('decorated records: prefix, quotes, one per line; stdout partials kept until finished', () => {
  assert.deepEqual(lines(stream(), ['msg 1\nmsg 2\nmsg 3']), [`${PREFIX}${MSG}"msg 1"`, `${PREFIX}${MSG}"msg 2"`, `${PREFIX}${MSG}"msg 3"`]);
  assert.deepEqual(lines(stream(), ['msg 2 - ', 'msg 3']), [`${PREFIX}${MSG}"msg 2 - msg 3"`]);
});

test('buffered, decorated: a long line is wrapped into records of exactly log_limit bytes (php-src log-bwd-limit-1050-msg-2048)', () => {
  const out = lines(stream({ limit: 1050 }), ['a'.repeat(2048) + '\n']);
  const head = `${PREFIX}${MSG}"`;
  assert.deepEqual(out.map((l) => l.length + 1), [1050, 1050, head.length + 1 + 2048 - 2 * (1050 - head.length - 2) + 1]);
  assert.equal(out.map((l) => l.slice(head.length, l.lastIndexOf('"'))).join(''), 'a'.repeat(2048));
});

test('buffered, plain: php-src log-bwp-realloc-buffer (100 + 2500 bytes in two writes) and log-bwp-limit-1500-msg-3300', () => {
  assert.deepEqual(lines(stream({ decorate: false }), ['a'.repeat(100), 'b'.repeat(2500) + '\n']),
    ['a'.repeat(100) + 'b'.repeat(923), 'b'.repeat(1023), 'b'.repeat(554)]);
  assert.deepEqual(lines(stream({ decorate: false, limit: 1500 }), ['t'.repeat(3300) + '\n']).map((l) => l.length), [1499, 1499, 302]);
});

test('the flush command, also cut by a read\'s end (php-src log-bwp-msg-flush-split-*)', () => {
  const plain = (chunks: string[]): string[] => lines(stream({ decorate: false }), chunks);
  assert.deepEqual(plain(['a'.repeat(1022) + '\0fscf\0']), ['a'.repeat(1022)], 'real');
  assert.deepEqual(plain(['a'.repeat(1021) + '\0fabc']), ['a'.repeat(1021) + '\0f', 'abc'], 'fallback');
  assert.deepEqual(plain(['a'.repeat(1013) + 'Quarkslab\0fscf\0Quarkslab']), ['a'.repeat(1013) + 'Quarkslab', 'Quarkslab'], 'sep at the end');
  assert.deepEqual(plain(['a'.repeat(1018) + 'Quarkslab\0fscf\0Quarkslab']).map((l) => l.length), [1023, 4, 9], 'sep at the start');
  // A flush command cut by the end of what was there to read is lost, as in php-fpm.
  assert.deepEqual(plain(['x'.repeat(10) + '\0fs', 'cf\0y']), ['x'.repeat(10) + 'cf\0y']);
});

test('direct (log_buffering = no): the same records, and php-fpm\'s missing newline when text ends exactly at the limit', () => {
  const d = lines(stream({ buffering: false, limit: 1050 }), ['a'.repeat(2048) + '\n']);
  assert.deepEqual(d, lines(stream({ limit: 1050 }), ['a'.repeat(2048) + '\n']));
  const head = `${PREFIX}${MSG}"`;
  const n = 1050 - head.length - 1; // prefix, text and closing quote exactly log_limit
  const out = lines(stream({ buffering: false, limit: 1050 }), ['z'.repeat(n - 1) + 'y\n']);
  assert.deepEqual(out, [`${head}${'z'.repeat(n - 1)}${head}y"`]);
});

test('below log_level the prefix and opening quote go, the closing quote stays (php-fpm8.2 with log_level = error)', () => {
  assert.deepEqual(lines(stream({ prefixed: false }), ['raw err\n']), ['raw err"']);
});

test('", pipe is closed" is wrapped when it does not fit, with php-fpm\'s empty lines', () => {
  const s = stream({ limit: 100 });
  const head = `${PREFIX}${MSG}"`;
  s.str('q'.repeat(100 - head.length - 10));
  s.setFinalSuffix(', pipe is closed');
  s.finish();
  const out = s.take();
  assert.equal(out, `${head}${'q'.repeat(100 - head.length - 10)}", pipe i\n\n${PREFIX}${MSG}s closed\n\n`);
});

test('workerLine: what php-fpm8.2\'s worker writes for each log_level (debug: its source line and the NUL of a short message)', () => {
  assert.equal(workerLine('php', 'hello one', 'notice'), 'NOTICE: PHP message: hello one\n');
  assert.equal(workerLine('php', 'hello one', 'warning'), 'PHP message: hello one\n');
  assert.equal(workerLine('php', 'hello one', 'debug'), 'NOTICE: sapi_cgi_log_message(), line 632: \0PHP message: hello one\n');
  const long = 'PHP Warning:  Undefined variable $undefined in /tmp/lw/el.php on line 4';
  assert.equal(workerLine('php', long, 'debug'), `NOTICE: sapi_cgi_log_message(), line 632: PHP message: ${long}\n`);
  assert.equal(workerLine('access', "Access to the script '/x' has been denied (see security.limit_extensions)", 'debug'),
    "NOTICE: fpm_php_limit_extensions(), line 269: Access to the script '/x' has been denied (see security.limit_extensions)\n");
  assert.equal(workerLine('access', 'A', 'warning'), null);
  assert.equal(workerLine('unknown', 'Primary script unknown', 'notice'), null);
  assert.equal(workerLine('unknown', 'Primary script unknown', 'debug'), 'DEBUG: main(), line 1893: Primary script unknown\n');
  // php-src log-bm-limit-2048-msg-4000: 'NOTICE: PHP message: ' + 2023 bytes + '...' = 2047.
  assert.equal(messageCap(2048, 'notice'), 2026);
});

test('WorkerOutput: one stream per child for both pipes, PHP messages through it, records finished at a request\'s end', async () => {
  const written: string[] = [];
  const log = new ErrorLog({ stderr: { write: (s: string | Buffer) => written.push(Buffer.from(s).toString('latin1')) }, now: () => new Date(2026, 10, 30, 22) });
  const out = new WorkerOutput(log, 'www', true);
  out.write(7, 'stdout', Buffer.from('msg 1 - '));
  out.write(7, 'stderr', Buffer.from('msg 2 - '));
  out.phpMessage(7, 'php', 'hello');
  out.write(7, 'stderr', Buffer.from('tail'));
  out.requestEnded(7);
  await new Promise((r) => setImmediate(r));
  out.write(7, 'stderr', null);
  out.write(7, 'stdout', null);
  assert.deepEqual(written.join('').split('\n'), [
    `${PREFIX}[pool www] child 7 said into stdout: "msg 1 - "`,
    `${PREFIX}[pool www] child 7 said into stderr: "msg 2 - NOTICE: PHP message: hello"`,
    `${PREFIX}[pool www] child 7 said into stderr: "tail"`,
    '',
  ]);
});

test('WorkerOutput: first bytes and EOF in one go end with ", pipe is closed"', async () => {
  const written: string[] = [];
  const log = new ErrorLog({ stderr: { write: (s: string | Buffer) => written.push(Buffer.from(s).toString('latin1')) }, now: () => new Date(2026, 10, 30, 22) });
  const out = new WorkerOutput(log, 'www', true);
  out.write(9, 'stderr', Buffer.from('dying words'));
  out.write(9, 'stderr', null);
  out.write(9, 'stdout', null);
  assert.equal(written.join(''), `${PREFIX}[pool www] child 9 said into stderr: "dying words", pipe is closed\n`);
});
