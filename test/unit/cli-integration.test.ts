// Runs bin/tsfpm as a real process (as an operator would) against configs
// written into a temp dir; expected strings are php-fpm 8.2's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';

const BIN = path.resolve(__dirname, '../../../bin/tsfpm');
const STOCK = '/etc/php/8.2/fpm/php-fpm.conf';
const tmp = makeTempDir('tsfpm-cli-');

function tsfpm(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string; lines: string[] } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const lines = r.stderr.split('\n').filter((l) => l !== '').map((l) => l.replace(/^\[\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\] /, ''));
  return { code: r.status, out: r.stdout, err: r.stderr, lines };
}
function conf(name: string, text: string): string {
  const p = path.join(tmp, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}
const head = `[global]\nerror_log = ${tmp}/error.log\n`;

test('Debian stock config: -t succeeds, -tt dumps [global] and [www]', { skip: !fs.existsSync(STOCK) }, () => {
  const t = tsfpm(['-t', '-y', STOCK]);
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /\] NOTICE: configuration file \/etc\/php\/8\.2\/fpm\/php-fpm\.conf test is successful\n\n$/);
  const tt = tsfpm(['-tt', '-y', STOCK]);
  assert.equal(tt.code, 0);
  for (const l of ['NOTICE: [global]', 'NOTICE: [www]', 'NOTICE: \tpm = dynamic', 'NOTICE: \tpm.max_children = 5', 'NOTICE: \tuser = www-data']) {
    assert.ok(tt.lines.includes(l), l);
  }
});

test('non-numeric pm.max_children: [file:line] message, exit 78', () => {
  const f = conf('bad.conf', '[global]\n[www]\nlisten = 9000\npm = static\n\npm.max_children = lots\n');
  const r = tsfpm(['-t', '-R', '-y', f]);
  assert.equal(r.code, 78);
  assert.deepEqual(r.lines, [
    `ERROR: [${f}:6] unable to parse value for entry 'pm.max_children': is not a valid number (greater or equal than zero)`,
    `ERROR: failed to load configuration file '${f}'`,
    'ERROR: FPM initialization failed',
  ]);
  assert.doesNotMatch(r.err, /at .*\.js/);
});

test('unknown entry and inconsistent spare servers', () => {
  const x = conf('x.conf', `${head}[www]\nlisten = 9000\npm = static\npm.max_children = 1\nbogus.directive = 1\n`);
  assert.deepEqual(tsfpm(['-t', '-R', '-y', x]).lines.slice(0, 1), [`ERROR: [${x}:7] unknown entry 'bogus.directive'`]);
  const s = conf('spare.conf', `${head}[www]\nlisten = 9000\npm = dynamic\npm.max_children = 5\npm.min_spare_servers = 4\npm.max_spare_servers = 2\n`);
  const r = tsfpm(['-t', '-R', '-y', s]);
  assert.equal(r.code, 78);
  assert.deepEqual(r.lines, [
    'ALERT: [pool www] pm.max_spare_servers(2) must not be less than pm.min_spare_servers(4)',
    'ERROR: failed to post process the configuration',
    'ERROR: FPM initialization failed',
  ]);
});

test('unknown option or positional argument: usage, exit 64; -h exit 0', () => {
  for (const a of [['-X'], ['stray']]) {
    const r = tsfpm(a);
    assert.equal(r.code, 64);
    assert.match(r.out, /^Usage: tsfpm \[-n\]/);
  }
  const h = tsfpm(['-h']);
  assert.equal(h.code, 0);
  assert.match(h.out, /-R, --allow-to-run-as-root\n {19}Allow pool to run as root \(disabled by default\)\n$/);
});

test('missing config file', () => {
  const r = tsfpm(['-t', '-y', `${tmp}/none.conf`]);
  assert.equal(r.code, 78);
  assert.deepEqual(r.lines, [
    `ERROR: failed to open configuration file '${tmp}/none.conf': No such file or directory (2)`,
    `ERROR: failed to load configuration file '${tmp}/none.conf'`,
    'ERROR: FPM initialization failed',
  ]);
});

test('include glob under -p, ${ENV}, $pool, 2m and php_admin_value resolve in -tt', () => {
  const pre = path.join(tmp, 'prefix');
  conf('prefix/log/.keep', '');
  conf('prefix/etc/pool.d/demo.conf', '[demo]\nlisten = $pool.sock\npm = ondemand\npm.max_children = 3\npm.process_idle_timeout = 2m\nphp_admin_value[memory_limit] = ${TSFPM_TEST_MEM}\nenv[POOL] = $pool\n');
  const main = conf('prefix/etc/php-fpm.conf', '[global]\ninclude = etc/pool.d/*.conf\n');
  const r = tsfpm(['-tt', '-R', '-p', pre], { TSFPM_TEST_MEM: '96M' });
  assert.equal(r.code, 0, r.err);
  for (const l of ['NOTICE: [demo]', `NOTICE: \tlisten = ${pre}/demo.sock`, 'NOTICE: \tpm = ondemand', 'NOTICE: \tpm.process_idle_timeout = 120',
    'NOTICE: \tphp_admin_value[memory_limit] = 96M', 'NOTICE: \tenv[POOL] = demo', `NOTICE: \terror_log = ${pre}/log/php-fpm.log`,
    `NOTICE: configuration file ${main} test is successful`]) {
    assert.ok(r.lines.includes(l), `${l}\n${r.lines.join('\n')}`);
  }
});

test('root without user and without -R is refused', { skip: process.geteuid?.() !== 0 }, () => {
  const f = conf('nouser.conf', `${head}[www]\nlisten = 9000\npm = static\npm.max_children = 1\n`);
  assert.deepEqual(tsfpm(['-t', '-y', f]).lines, ['ALERT: [pool www] user has not been defined', 'ERROR: failed to post process the configuration', 'ERROR: FPM initialization failed']);
  assert.equal(tsfpm(['-t', '-R', '-y', f]).code, 0);
});

test('syntax error is reported in Zend words', () => {
  const f = conf('syntax.conf', `${head}[www]\nlisten = (\n`);
  const r = tsfpm(['-t', '-R', '-y', f]);
  assert.equal(r.code, 78);
  assert.ok(r.err.includes('PHP:  syntax error, unexpected END_OF_LINE in Unknown on line 2\n'));
});

// php-fpm applies log_level, then opens error_log, before it processes the pools (fpm_conf_post_process).
test('log_level = warning hides the pm.start_servers NOTICE (php-src bug68458); pool messages reach error_log too', () => {
  const pool = '[www]\nlisten = 9000\npm = dynamic\npm.max_children = 5\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n';
  const quiet = conf('quiet.conf', `[global]\nerror_log = ${tmp}/quiet.log\nlog_level = warning\n${pool}`);
  const q = tsfpm(['-t', '-R', '-y', quiet]);
  assert.equal(q.code, 0, q.err);
  assert.equal(q.err, '');
  const loud = conf('loud.conf', `[global]\nerror_log = ${tmp}/loud.log\n${pool}`);
  const l = tsfpm(['-t', '-R', '-y', loud]);
  assert.equal(l.code, 0, l.err);
  assert.deepEqual(l.lines.slice(0, 1), ["NOTICE: [pool www] pm.start_servers is not set. It's been set to 2."]);
  assert.match(fs.readFileSync(`${tmp}/loud.log`, 'utf8'), /NOTICE: \[pool www\] pm\.start_servers is not set\. It's been set to 2\.\n/);
});

test('-tt: unknown listen.owner / listen.group names fail with the lookup errno (php-src bug68591)', () => {
  for (const [key, what] of [['listen.owner', 'cannot get uid for user'], ['listen.group', 'cannot get gid for group']]) {
    const f = conf(`${key}.conf`, `${head}[unconfined]\nlisten = ${tmp}/u.sock\n${key} = aaaaaa\nuser = root\npm = static\npm.max_children = 1\n`);
    const r = tsfpm(['-tt', '-y', f]);
    assert.equal(r.code, 78, r.err);
    // php-fpm 8.2.36 verbatim (getpwnam()/getgrnam() leave errno 0).
    assert.deepEqual(r.lines, [`ERROR: [pool unconfined] ${what} 'aaaaaa': Success (0)`, 'ERROR: FPM initialization failed']);
  }
});

test("-t resolves 'user' even when not root, and prints no 'directive is ignored' NOTICE", { skip: process.geteuid?.() !== 0 }, () => {
  const f = conf('asnobody.conf', `[global]\nerror_log = /tmp/tsfpm-cli-nobody-${process.pid}.log\n[www]\nlisten = 9000\nuser = nosuchuser\npm = static\npm.max_children = 1\n`);
  fs.chmodSync(tmp, 0o755);
  fs.chmodSync(f, 0o644);
  const r = spawnSync('su', ['nobody', '-s', '/bin/sh', '-c', `"${process.execPath}" "${BIN}" -t -y "${f}"`], { encoding: 'utf8' });
  fs.rmSync(`/tmp/tsfpm-cli-nobody-${process.pid}.log`, { force: true });
  const lines = r.stderr.split('\n').filter((l) => l !== '').map((l) => l.replace(/^\[[^\]]+\] /, ''));
  assert.equal(r.status, 78, r.stderr);
  assert.deepEqual(lines, ["ERROR: [pool www] cannot get uid for user 'nosuchuser'", 'ERROR: FPM initialization failed']);
});
