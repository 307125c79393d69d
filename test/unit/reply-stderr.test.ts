// StderrMessages: php-cgi's FCGI_STDERR text (`MSG\n` per message) into
// php-fpm's (`PHP message: MSG` joined by `; `), whatever the pieces it comes in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CAP, StderrMessages, type MessageKind } from '../../src/pool/reply-stderr.js';

/** Feeds `parts` (each one STDERR run; a boundary() between runs) in pieces cut at `cuts` within each run. */
function run(parts: string[], cuts: (len: number) => number[] = () => [], m = new StderrMessages()): string {
  let out = '';
  parts.forEach((part, k) => {
    if (k > 0) out += m.boundary().toString('latin1');
    // Copied into a scratch buffer that is scribbled over after each feed: a view kept too long shows.
    const bytes = Buffer.from(part, 'latin1');
    const points = [0, ...cuts(bytes.length).filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
    for (let i = 0; i + 1 < points.length; i++) {
      const scratch = Buffer.alloc(bytes.length + 8, 0x23);
      bytes.copy(scratch, 4, points[i], points[i + 1]);
      out += m.feed(scratch, 4, 4 + points[i + 1] - points[i]).toString('latin1');
      scratch.fill(0x5a);
    }
  });
  return out + m.boundary().toString('latin1');
}

/** The same result for the whole text, every single cut, every pair of cuts (short texts) and byte by byte. */
function check(parts: string[], want: string): void {
  assert.equal(run(parts), want, 'whole');
  const max = Math.max(...parts.map((p) => p.length));
  for (let c = 1; c < max; c++) assert.equal(run(parts, () => [c]), want, `cut at ${c}`);
  if (max <= 120) {
    for (let a = 1; a < max; a++) for (let b = a + 1; b < max; b++) assert.equal(run(parts, () => [a, b]), want, `cuts at ${a}, ${b}`);
  }
  assert.equal(run(parts, (n) => Array.from({ length: n }, (_, i) => i)), want, 'byte by byte');
}

const W1 = 'PHP Warning:  Undefined variable $a in /srv/x.php on line 2';
const W2 = 'PHP Warning:  Undefined variable $a in /srv/x.php on line 3';
const FATAL = 'PHP Fatal error:  Uncaught Exception: boom in /srv/x.php:6\nStack trace:\n#0 {main}\n  thrown in /srv/x.php on line 6';

test('two warnings in one run: "PHP message: " each, "; " between, no newline (php-src bug77106)', () => {
  check([`${W1}\n${W2}\n`], `PHP message: ${W1}; PHP message: ${W2}`);
});

test('messages in separate runs of one request share the "; " state', () => {
  check([`${W1}\n`, `${W2}\n`], `PHP message: ${W1}; PHP message: ${W2}`);
});

test('an uncaught exception keeps its inner newlines (a PHP message ends with "on line N")', () => {
  check([`${W1}\n${FATAL}\n`], `PHP message: ${W1}; PHP message: ${FATAL}`);
});

test('one-line error_log() messages are one message each; an empty one is the bare prefix', () => {
  check(['user one\n\nuser two\n'], 'PHP message: user one; PHP message: ; PHP message: user two');
});

test('decision: a multi-line non-PHP message comes out one message per line', () => {
  // php-fpm: "PHP message: multi\nline"; php-cgi's stream cannot tell it from two error_log() calls.
  check(['multi\nline\n'], 'PHP message: multi; PHP message: line');
});

test('a line starting "PHP " always starts a message, even inside an unfinished PHP message', () => {
  // Xdebug logs its stack trace one php_log_err() per line.
  check(['PHP Stack trace:\nPHP   1. {main}() /srv/x.php:0\n'], 'PHP message: PHP Stack trace:; PHP message: PHP   1. {main}() /srv/x.php:0');
  check([`PHP rocks\n${W1}\n`], `PHP message: PHP rocks; PHP message: ${W1}`);
});

test('an unfinished PHP message ends where the run ends (another record type followed)', () => {
  check(['PHP Notice:  no line number\n', 'after\n'], 'PHP message: PHP Notice:  no line number; PHP message: after');
  // Within one run it continues until "on line N".
  check(['PHP Notice:  first\nsecond in /x on line 1\nthird\n'], 'PHP message: PHP Notice:  first\nsecond in /x on line 1; PHP message: third');
});

test("tsfpm's limit_extensions line goes out as php-fpm's own (no prefix)", () => {
  const a = "Access to the script '/srv/up/evil.jpg' has been denied (see security.limit_extensions)";
  check([`${a}\n`], a);
  check([`${W1}\n${a}\n`], `PHP message: ${W1}; ${a}`);
  check(["Access to the scripts\n"], 'PHP message: Access to the scripts');
});

test('external(): php-fpm\'s own message, "; " only after another one', () => {
  const m = new StderrMessages();
  assert.equal(m.external('Primary script unknown').toString(), 'Primary script unknown');
  m.reset();
  assert.equal(m.feed(Buffer.from(`${W1}\n`), 0, W1.length + 1).toString(), `PHP message: ${W1}`);
  assert.equal(m.external('Primary script unknown').toString(), '; Primary script unknown');
  // Held lookahead bytes go out first.
  m.reset();
  assert.equal(m.feed(Buffer.from('Acc'), 0, 3).toString(), '');
  assert.equal(m.external('Primary script unknown').toString(), 'PHP message: Acc; Primary script unknown');
});

test('reset(): the next request starts without "; "', () => {
  const m = new StderrMessages();
  assert.equal(run([`${W1}\n`], undefined, m), `PHP message: ${W1}`);
  assert.equal(run([`${W2}\n`], undefined, m), `; PHP message: ${W2}`);
  m.reset();
  assert.equal(run([`${W2}\n`], undefined, m), `PHP message: ${W2}`);
  // Also from the middle of a lookahead or an unfinished message.
  m.feed(Buffer.from('PHP Fatal error:  x\nPH'), 0, 22);
  m.reset();
  assert.equal(run(['user\n'], undefined, m), 'PHP message: user');
});

test('pending: only between a newline inside an unfinished PHP message (or held bytes) and the next byte', () => {
  const m = new StderrMessages();
  assert.equal(m.pending, false);
  m.feed(Buffer.from(`${W1}\n`), 0, W1.length + 1);
  assert.equal(m.pending, false);
  m.feed(Buffer.from('PHP Fatal error:  x:1\n'), 0, 22);
  assert.equal(m.pending, true);
  assert.equal(m.boundary().length, 0);
  assert.equal(m.pending, false);
});

test('a long message and many tiny ones', () => {
  const long = `PHP Warning:  ${'x'.repeat(70000)} in /x on line 9`;
  assert.equal(run([`${long}\n`], (n) => [1, 8192, 16384, n - 3], new StderrMessages(Infinity)), `PHP message: ${long}`);
  assert.equal(run([`${long}\n`], (n) => [1, 8192, 16384, n - 3]), `PHP message: ${long.slice(0, DEFAULT_CAP - 3)}...`);
  const many = '\n'.repeat(5000);
  assert.equal(run([many], (n) => [n >> 1]), `PHP message: ${'; PHP message: '.repeat(4999)}`);
});

test('log_limit: a PHP message is cut where php-fpm\'s worker cuts it (php-src log-bm-limit-2048-msg-4000), whatever the pieces', () => {
  // log_limit 2048, "NOTICE: " prefix: the message keeps 2048 - 8 - 13 - 1 = 2026 bytes, the last three "...".
  const cap = 2048 - 8 - 13 - 1;
  const fresh = (): StderrMessages => new StderrMessages(cap);
  const msg = (n: number): string => 't'.repeat(n);
  for (const n of [cap - 1, cap]) {
    assert.equal(run([`${msg(n)}\n`], () => [], fresh()), `PHP message: ${msg(n)}`, `${n} bytes: whole`);
  }
  for (const n of [cap + 1, 4000]) {
    const want = `PHP message: ${msg(cap - 3)}...`;
    assert.equal(run([`${msg(n)}\n`], () => [], fresh()), want, `${n} bytes: cut`);
    for (const c of [1, cap - 4, cap - 3, cap - 2, cap - 1, cap, cap + 1]) {
      assert.equal(run([`${msg(n)}\n`], () => [c], fresh()), want, `${n} bytes, cut at ${c}`);
    }
    assert.equal(run([`${msg(n)}\n`, 'next\n'], () => [cap - 2], fresh()), `${want}; PHP message: next`, 'the next message is whole');
  }
  // A PHP error's inner newlines count; the rest of a cut message is still read for its end.
  const trace = `PHP Fatal error:  ${'e'.repeat(cap)}\nStack trace:\n  thrown in /x on line 2`;
  assert.equal(run([`${trace}\nafter\n`], (n) => Array.from({ length: n }, (_, i) => i), fresh()),
    `PHP message: PHP Fatal error:  ${'e'.repeat(cap - 3 - 18)}...; PHP message: after`);
});

test('onMessage gets each message as cut when it ends, and php-fpm\'s own ones with their kind', () => {
  const seen: Array<[MessageKind, string]> = [];
  const m = new StderrMessages(20, (k, t) => seen.push([k, t]));
  const W = 'PHP Warning:  w in /x on line 1';
  const out = run([`one\n${W}\nfor sure longer than twenty\nAccess to the script '/x.txt' has been denied\n`], (n) => [n >> 1], m);
  assert.equal(out, `PHP message: one; PHP message: ${W.slice(0, 17)}...; PHP message: for sure longer t...; Access to the script '/x.txt' has been denied`);
  m.external('Primary script unknown');
  assert.deepEqual(seen, [
    ['php', 'one'], ['php', `${W.slice(0, 17)}...`], ['php', 'for sure longer t...'],
    ['access', "Access to the script '/x.txt' has been denied"], ['unknown', 'Primary script unknown'],
  ]);
});
