import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorLog, LOOKUP_ERRNO, formatLine, strerrorSuffix, truncate } from '../../src/log/error-log.js';
import { makeTempDir } from '../helpers/tmp.js';

const date = new Date(2026, 10, 25, 19, 55, 34, 135);

test('formatLine gives php-fpm\'s layout', () => {
  assert.equal(formatLine('notice', 'fpm is running, pid 15300', date), '[25-Nov-2026 19:55:34] NOTICE: fpm is running, pid 15300\n');
  assert.equal(formatLine('warning', 'x', date), '[25-Nov-2026 19:55:34] WARNING: x\n');
});

test('formatLine debug form has microseconds and pid/function/line', () => {
  assert.equal(formatLine('notice', 'm', date, { debug: true, pid: 24196, usec: 135514, func: 'fpm_init', line: 83 }),
    '[25-Nov-2026 19:55:34.135514] NOTICE: pid 24196, fpm_init(), line 83: m\n');
});

test('log_limit as php-fpm applies it to its own lines: only past its 2048-byte buffer, or a syserror line at the limit', () => {
  // php-fpm8.2 with log_limit = 1024: a 1567-character line whole, a 2100-character one cut to 1023 with "...".
  assert.equal(formatLine('error', 'x'.repeat(1500), date, { limit: 1024 }).length, 30 + 1500 + 1);
  const cut = formatLine('error', 'x'.repeat(2100), date, { limit: 1024 });
  assert.equal(cut.length, 1024);
  assert.ok(cut.endsWith('x...\n'));
  assert.equal(formatLine('error', 'x'.repeat(3000), date, { limit: 4096 }).length, 2048, 'never more than the buffer');
  // With `: strerror (errno)` appended the limit itself applies.
  const sys = formatLine('error', `${'y'.repeat(1000)}: No such file or directory (2)`, date, { limit: 1024, syserror: true });
  assert.equal(sys.length, 1024);
  assert.ok(sys.endsWith('y...\n'));
  assert.equal(truncate('short', 1024), 'short');
});

test('syserror suffix is strerror (errno)', () => {
  const e = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', errno: -2 });
  assert.equal(strerrorSuffix(e), ': No such file or directory (2)');
});

test('a user/group lookup that found nothing has errno 0: `: Success (0)` as php-fpm prints it', () => {
  assert.equal(strerrorSuffix(LOOKUP_ERRNO), ': Success (0)');
});

test('ErrorLog: setLevel/setLimit apply before configure (php-fpm sets them before opening error_log)', () => {
  const seen: string[] = [];
  const log = new ErrorLog({ stderr: { write: (s: string) => seen.push(s) }, now: () => date });
  log.setLevel('warning');
  log.setLimit(600);
  log.notice('hidden');
  log.warning('x'.repeat(3000));
  assert.deepEqual(seen, [`[25-Nov-2026 19:55:34] WARNING: ${'x'.repeat(599 - 35)}...\n`]);
});

test('ErrorLog: stderr before configure, file + stderr copy until startupDone, level filter, reopen', () => {
  const dir = makeTempDir('tsfpm-log-');
  const file = path.join(dir, 'err.log');
  const seen: string[] = [];
  const log = new ErrorLog({ stderr: { write: (s: string) => seen.push(s) }, now: () => date });
  log.notice('early');
  log.configure({ errorLog: file, daemonize: true, logLevel: 'notice' }, false);
  log.notice('copied');
  log.debug('filtered');
  log.startupDone();
  log.warning('file only');
  fs.renameSync(file, file + '.1');
  log.reopen();
  setImmediate(() => {});
  log.flush();
  assert.deepEqual(seen, ['[25-Nov-2026 19:55:34] NOTICE: early\n', '[25-Nov-2026 19:55:34] NOTICE: copied\n']);
  const rotated = fs.readFileSync(file + '.1', 'utf8');
  assert.match(rotated, /NOTICE: copied\n.*WARNING: file only\n/s);
  log.close();
});

test('ErrorLog: daemonize=no with -O logs to stderr only', () => {
  const seen: string[] = [];
  const log = new ErrorLog({ stderr: { write: (s: string) => seen.push(s) }, now: () => date });
  log.configure({ errorLog: '/nonexistent/dir/x.log', daemonize: false, forceStderr: true }, false);
  log.error('boom');
  assert.deepEqual(seen, ['[25-Nov-2026 19:55:34] ERROR: boom\n']);
});

test('TSFPM_LOG_FORMAT=json mode: the same messages as pino JSON lines, level names kept', () => {
  const lines: string[] = [];
  const log = new ErrorLog({ stderr: { write: (s: string) => { lines.push(s); return true; } } });
  log.useJson();
  log.notice('fpm is running, pid 1');
  log.debug('not at notice level');
  log.alert('[pool www] user has not been defined');
  const recs = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs.length, 2);
  assert.equal(recs[0].level, 'notice');
  assert.equal(recs[0].msg, 'fpm is running, pid 1');
  assert.equal(recs[0].pid, process.pid);
  assert.match(String(recs[0].time), /^\d{4}-\d\d-\d\dT/);
  assert.equal(recs[1].level, 'alert');
});

test('worker-output records: the stream prefix, the bytes as the workers wrote them, no copy to stderr before start-up ends', () => {
  const dir = makeTempDir('tsfpm-log-');
  const file = path.join(dir, 'err.log');
  const seen: Array<string | Buffer> = [];
  const log = new ErrorLog({ stderr: { write: (s: string | Buffer) => seen.push(s) }, now: () => date });
  log.configure({ errorLog: file, daemonize: true, logLevel: 'notice' }, false);
  assert.equal(log.streamPrefix('warning'), '[25-Nov-2026 19:55:34] WARNING: ');
  log.workerRecord('caf\xc3\xa9 \x00\n');
  assert.deepEqual(fs.readFileSync(file), Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9, 0x20, 0x00, 0x0a]));
  assert.deepEqual(seen, []);
  log.setLevel('debug');
  assert.equal(log.streamPrefix('warning'), `[25-Nov-2026 19:55:34.135000] WARNING: pid ${process.pid}, (null)(), line 0: `);
  log.close();
});
