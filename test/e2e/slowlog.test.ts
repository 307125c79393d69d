// request_slowlog_timeout and request_terminate_timeout (src/slowlog) with
// real nginx and php-cgi: the slowlog entry with the PHP stack read from the
// running child (a dynamic pool's own php-cgi, a static pool's worker of a
// shared php-cgi parent), the same entry and WARNING line as php-fpm8.2's for
// the same script, the status page's slow requests, a 9-second script under a
// 4-second limit answered with an error through nginx at the limit and the
// pool back to size, request_slowlog_trace_depth, a slowlog moved away, and a
// PHP build whose memory layout is unknown (an entry without frames, said once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { fcgiRequest, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { httpRequest } from '../helpers/http.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { cmdlineOf, isAlive, parentOf, waitFor } from '../helpers/procs.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';
import { readElf, fdReader } from '../../src/slowlog/elf.js';
import { phpBuild } from '../../src/slowlog/php-layout.js';

const docroot = makeTempDir('tsfpm-slowlog-');
fs.chmodSync(docroot, 0o755);
// Line numbers matter: usleep() is called on line 3, inner() on 6, outer() on 8.
const SLOW = `<?php
function inner() {
    usleep((int)($_GET['us'] ?? 2000000));
}
function outer() {
    inner();
}
outer();
echo "done";
`;
fs.writeFileSync(join(docroot, 'slow.php'), SLOW);
fs.writeFileSync(join(docroot, 'long.php'), '<?php sleep(9); echo "finished";');
fs.writeFileSync(join(docroot, 'hello.php'), '<?php echo "hello";');
for (const f of fs.readdirSync(docroot)) fs.chmodSync(join(docroot, f), 0o644);

const SLOW_PATH = join(docroot, 'slow.php');
const PHP_CGI = '/usr/bin/php-cgi8.2';

function pool(name: string, port: number, pm: string, extra = ''): string {
  const pmLines = pm === 'static' ? 'pm = static\npm.max_children = 2' :
    pm === 'dynamic' ? 'pm = dynamic\npm.max_children = 2\npm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 2' :
      'pm = ondemand\npm.max_children = 2';
  return `[${name}]
listen = 127.0.0.1:${port}
${pmLines}
pm.status_path = /status
slowlog = {dir}/${name}-slow.log
request_slowlog_timeout = 1s
${extra}
`;
}

let d: Tsfpm;
let nginxDyn: Nginx;
let nginxStat: Nginx;
let ports: Record<'dyn' | 'stat' | 'depth', number>;
const target = (name: keyof typeof ports): Target => ({ host: '127.0.0.1', port: ports[name] });

before(async () => {
  ports = { dyn: await freePort(), stat: await freePort(), depth: await freePort() };
  d = await startTsfpm({
    conf: `[global]
error_log = {dir}/error.log
${pool('dyn', ports.dyn, 'dynamic', 'request_terminate_timeout = 4s')}
${pool('stat', ports.stat, 'static', 'request_terminate_timeout = 4s')}
${pool('depth', ports.depth, 'ondemand', 'request_slowlog_trace_depth = 2')}
`,
  });
  nginxDyn = await startNginx({ upstream: `127.0.0.1:${ports.dyn}`, docroot });
  nginxStat = await startNginx({ upstream: `127.0.0.1:${ports.stat}`, docroot });
  // Both pools at full size, the shared parent's workers with their pids learnt.
  for (const p of ['dyn', 'stat'] as const) await waitFor(async () => (await status(p)).processes.length === 2, 10_000);
});

after(async () => {
  await nginxDyn?.stop();
  await nginxStat?.stop();
  assert.equal(await d?.stop(), 0, d?.output());
});

interface Status { 'slow requests': number; 'total processes': number; processes: Array<{ pid: number }> }

async function status(p: keyof typeof ports): Promise<Status> {
  const r = await fcgiRequest(target(p), { ...scriptParams(docroot, '/status'), QUERY_STRING: 'json&full', REQUEST_URI: '/status?json&full' });
  return JSON.parse(r.body.toString()) as Status;
}

const slowFile = (p: string): string => join(d.dir, `${p}-slow.log`);
const readOr = (f: string): string => { try { return fs.readFileSync(f, 'latin1'); } catch { return ''; } };
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The entry php-fpm writes for slow.php: header, script, usleep() in inner() in outer(). */
function entryRe(poolName: string, pid: string | number, script = SLOW_PATH): RegExp {
  const f = escape(script);
  return new RegExp(`^\\n\\[\\d\\d-[A-Z][a-z]{2}-\\d{4} \\d\\d:\\d\\d:\\d\\d\\]  \\[pool ${poolName}\\] pid ${pid}\\n` +
    `script_filename = ${f}\\n` +
    `\\[0x[0-9a-f]{16}\\] usleep\\(\\) ${f}:3\\n` +
    `\\[0x[0-9a-f]{16}\\] inner\\(\\) ${f}:6\\n` +
    `\\[0x[0-9a-f]{16}\\] outer\\(\\) ${f}:8\\n$`);
}

const slowWarning = (poolName: string, uri: string): RegExp =>
  new RegExp(`\\] WARNING: \\[pool ${poolName}\\] child (\\d+), script '${escape(SLOW_PATH)}' \\(request: "GET ${escape(uri)}"\\) executing too slow \\((1\\.\\d{6}) sec\\), logging\\n`);

/** php-fpm's entry and line with what differs between two runs (time, pid, addresses, elapsed) blanked. */
function normalise(s: string): string {
  return s.replace(/\[\d\d-\w{3}-\d{4} [\d:.]+\]/g, '[DATE]').replace(/pid \d+/g, 'pid N').replace(/child \d+/g, 'child N')
    .replace(/0x[0-9a-f]{16}/g, '0xADDR').replace(/\(\d+\.\d{6} sec\)/g, '(T sec)');
}

test('a script sleeping in outer() → inner() → usleep(), dynamic pool: the entry, the WARNING and the counter, as php-fpm8.2 writes them', async () => {
  // php-fpm8.2 on the same script, for the comparison, at the same time.
  const fpmPort = await freePort();
  const fpm: PhpFpm = await startPhpFpm({ conf: `[global]\nerror_log = {dir}/error.log\n${pool('www', fpmPort, 'dynamic')}` });
  try {
    const params = scriptParams(docroot, '/slow.php');
    const [r, ref] = await Promise.all([
      httpRequest(nginxDyn.url('/slow.php'), { timeoutMs: 10_000 }),
      fcgiRequest({ host: '127.0.0.1', port: fpmPort }, params, { timeoutMs: 10_000 }),
      fcgiRequest(target('dyn'), params, { timeoutMs: 10_000 }),
    ]);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'done', 'the traced request is not disturbed');
    assert.match(ref.body.toString(), /done$/);

    // Two slow requests in the dyn pool: one through nginx, one like the php-fpm one.
    const log = d.output();
    const warnings = [...log.matchAll(new RegExp(slowWarning('dyn', '/slow.php').source, 'g'))];
    assert.equal(warnings.length, 2, log);
    for (const w of warnings) {
      assert.ok(Number(w[2]) >= 1 && Number(w[2]) < 1.3, `logged at the limit, not a heartbeat later: ${w[2]}`);
      assert.match(log, new RegExp(`NOTICE: about to trace ${w[1]}\\n.*NOTICE: finished trace of ${w[1]}\\n`));
      // A dynamic pool's child is the master's own php-cgi.
      assert.equal(parentOf(Number(w[1])), d.proc.pid);
    }
    const entries = readOr(slowFile('dyn')).split(/(?=\n\[\d\d-)/);
    assert.equal(entries.length, 2, readOr(slowFile('dyn')));
    const pids = warnings.map((w) => w[1]).sort();
    assert.deepEqual(entries.map((e) => /pid (\d+)/.exec(e)?.[1]).sort(), pids);
    for (const e of entries) assert.match(e, entryRe('dyn', '\\d+'));
    assert.equal((await status('dyn'))['slow requests'], 2);

    // php-fpm8.2's entry and WARNING, side by side with tsfpm's for the same request.
    const fpmEntry = readOr(join(fpm.dir, 'www-slow.log'));
    assert.match(fpmEntry, entryRe('www', '\\d+'));
    assert.equal(normalise(entries[0]).replace('[pool dyn]', '[pool www]'), normalise(fpmEntry));
    const fpmLine = /WARNING: (\[pool www\] child \d+, script .* logging)\n/.exec(fpm.output())?.[1];
    const ourLine = /WARNING: (\[pool dyn\] child \d+, script .* logging)\n/.exec(log)?.[1];
    assert.ok(fpmLine !== undefined && ourLine !== undefined, fpm.output());
    assert.equal(normalise(ourLine).replace('[pool dyn]', '[pool www]'), normalise(fpmLine));
  } finally {
    await fpm.stop();
  }
});

test('static pool: the worker of the shared php-cgi parent is traced by its own pid', async () => {
  const r = await httpRequest(nginxStat.url('/slow.php?us=1500000'), { timeoutMs: 10_000 });
  assert.equal(r.body, 'done');
  const log = d.output();
  const w = slowWarning('stat', '/slow.php?us=1500000').exec(log);
  assert.ok(w !== null, log);
  const pid = Number(w[1]);
  const parent = parentOf(pid);
  assert.notEqual(parent, d.proc.pid, 'a worker, not the master\'s own child');
  assert.equal(parentOf(parent ?? -1), d.proc.pid, 'its parent is the shared php-cgi parent');
  assert.match(cmdlineOf(parent ?? -1), /php-fpm: pool stat/);
  assert.match(readOr(slowFile('stat')), entryRe('stat', pid));
  assert.equal((await status('stat'))['slow requests'], 1);
});

test('request_terminate_timeout = 4s: a 9-second script answered with an error through nginx at the limit, php-fpm\'s lines, the pool back to size and serving', async () => {
  const from = d.output().length;
  const before = { dyn: (await status('dyn')).processes.map((p) => p.pid), stat: (await status('stat')).processes.map((p) => p.pid) };
  const t0 = Date.now();
  const timed = async (n: Nginx): Promise<[number, number]> => {
    const r = await httpRequest(n.url('/long.php'), { timeoutMs: 15_000 });
    return [r.status, (Date.now() - t0) / 1000];
  };
  const [[dynStatus, dynSecs], [statStatus, statSecs]] = await Promise.all([timed(nginxDyn), timed(nginxStat)]);
  for (const [s, secs] of [[dynStatus, dynSecs], [statStatus, statSecs]]) {
    assert.ok(s === 502 || s === 504, `nginx's answer: ${s}`);
    assert.ok(secs >= 3.9 && secs < 5, `answered after ${secs} s`);
  }
  // The log reaches this process through a pipe, maybe after nginx's answer.
  for (const p of ['dyn', 'stat']) await d.waitForOutput(new RegExp(`\\[pool ${p}\\] child \\d+ exited on signal 15`), 3000, from);
  const log = d.output().slice(from);
  const killed: Record<string, number> = {};
  for (const p of ['dyn', 'stat']) {
    const m = new RegExp(`WARNING: \\[pool ${p}\\] child (\\d+), script '${escape(join(docroot, 'long.php'))}' \\(request: "GET /long.php"\\) execution timed out \\((4\\.\\d{6}) sec\\), terminating\\n`).exec(log);
    assert.ok(m !== null, log);
    assert.ok(Number(m[2]) < 4.2, `terminated at the limit: ${m[2]}`);
    const pid = Number(m[1]);
    assert.ok(before[p as 'dyn' | 'stat'].includes(pid));
    assert.match(log, new RegExp(`WARNING: \\[pool ${p}\\] child ${pid} exited on signal 15 \\(SIGTERM\\) after \\d+\\.\\d{6} seconds from start\\n`));
    assert.ok(!isAlive(pid), 'the child is gone');
    killed[p] = pid;
  }
  // Back to full size, serving; the replacement announced after the exit line, as php-fpm does.
  for (const p of ['dyn', 'stat'] as const) {
    await waitFor(async () => {
      const s = await status(p);
      return s['total processes'] === 2 && s.processes.length === 2 && s.processes.every((c) => c.pid !== killed[p] && isAlive(c.pid));
    }, 5000);
    const after = d.output().slice(from);
    assert.match(after, new RegExp(`\\[pool ${p}\\] child \\d+ exited on signal 15[^\\n]*\\n(.*\\n)*.*NOTICE: \\[pool ${p}\\] child \\d+ started\\n`));
  }
  assert.doesNotMatch(d.output().slice(from), /exited unexpectedly|failed processes threshold/);
  assert.equal((await httpRequest(nginxDyn.url('/hello.php'))).body, 'hello');
  assert.equal((await httpRequest(nginxStat.url('/hello.php'))).body, 'hello');
});

test('request_slowlog_trace_depth = 2: the two innermost frames', async () => {
  await fcgiRequest(target('depth'), scriptParams(docroot, '/slow.php', { QUERY_STRING: 'us=1300000' }), { timeoutMs: 10_000 });
  const e = readOr(slowFile('depth'));
  assert.match(e, new RegExp(`script_filename = ${escape(SLOW_PATH)}\\n\\[0x[0-9a-f]{16}\\] usleep\\(\\) ${escape(SLOW_PATH)}:3\\n\\[0x[0-9a-f]{16}\\] inner\\(\\) ${escape(SLOW_PATH)}:6\\n$`));
});

test('a slowlog moved away (logrotate): the next entry starts a new file, USR1 or not', async () => {
  const file = slowFile('depth');
  const before = readOr(file);
  fs.renameSync(file, `${file}.1`);
  const from = d.output().length;
  d.signal('SIGUSR1');
  await d.waitForOutput(/error log file re-opened/, 3000, from);
  await fcgiRequest(target('depth'), scriptParams(docroot, '/slow.php', { QUERY_STRING: 'us=1300000' }), { timeoutMs: 10_000 });
  assert.equal(readOr(`${file}.1`), before, 'the moved file is left alone');
  assert.match(readOr(file), /^\n\[.*\]  \[pool depth\] pid \d+\nscript_filename = /);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

const root = process.getuid?.() === 0;
const user = execFileSync('getent', ['passwd', 'www-data'], { encoding: 'utf8' }).trim() !== '' ? 'www-data' : 'nobody';

test('children of a pool user (not dumpable, a static pool\'s workers) and jailed ones (chroot): their stacks are read all the same', { skip: root ? false : 'needs root (user, chroot)' }, async () => {
  const port = await freePort();
  const jailPort = await freePort();
  const other = await startTsfpm({
    conf: `[global]\nerror_log = {dir}/error.log\n${pool('nd', port, 'static', `user = ${user}`)}\n${pool('jailed', jailPort, 'ondemand', `user = ${user}\nchroot = ${docroot}`)}`,
  });
  try {
    const q = { QUERY_STRING: 'us=1300000' };
    const notDumpable = waitFor(() => {
      // While the request runs: its worker's /proc files belong to root, as php-fpm's after setuid.
      const w = /child (\d+), script/.exec(other.output())?.[1];
      return w !== undefined && fs.statSync(`/proc/${w}/environ`).uid === 0;
    }, 5000, 20);
    await Promise.all([
      fcgiRequest({ host: '127.0.0.1', port }, scriptParams(docroot, '/slow.php', q), { timeoutMs: 10_000 }),
      fcgiRequest({ host: '127.0.0.1', port: jailPort }, scriptParams(docroot, '/slow.php', { ...q, SCRIPT_FILENAME: '/slow.php' }), { timeoutMs: 10_000 }),
      notDumpable,
    ]);
    assert.match(readOr(join(other.dir, 'nd-slow.log')), entryRe('nd', '\\d+'));
    // Inside the jail the script is /slow.php, as PHP sees it.
    assert.match(readOr(join(other.dir, 'jailed-slow.log')), entryRe('jailed', '\\d+', '/slow.php'));
  } finally {
    assert.equal(await other.stop(), 0);
  }
});

test('the ELF reader agrees with readelf on php-cgi8.2, and the build is the one `php-cgi -v` names', () => {
  const fd = fs.openSync(PHP_CGI, 'r');
  try {
    const e = readElf(fdReader(fd, fs.readSync), ['executor_globals', 'sapi_globals'], '.rodata');
    const syms = execFileSync('readelf', ['-W', '--dyn-syms', PHP_CGI], { encoding: 'utf8' });
    for (const name of ['executor_globals', 'sapi_globals']) {
      const m = new RegExp(`^\\s*\\d+: ([0-9a-f]+)\\s+(\\d+) OBJECT\\s+GLOBAL\\s+DEFAULT\\s+\\d+ ${name}$`, 'm').exec(syms);
      assert.ok(m !== null, syms.slice(0, 500));
      assert.deepEqual(e.symbols.get(name), { value: Number.parseInt(m[1], 16), size: Number(m[2]) });
    }
    const v = /^PHP (\S+) \(cgi-fcgi\)/.exec(execFileSync(PHP_CGI, ['-n', '-v'], { encoding: 'utf8' }))?.[1];
    assert.deepEqual(phpBuild(e.section), { buildId: 'API20220829,NTS', version: v });
  } finally {
    fs.closeSync(fd);
  }
});

test('a PHP build whose layout tsfpm does not know: entries without frames, the reason once in error_log', async () => {
  // php-cgi8.2 with another module build id: a PHP tsfpm has no offsets for (-n: no extensions to complain).
  const dir = makeTempDir('tsfpm-slowlog-bin-');
  fs.chmodSync(dir, 0o755);
  const bin = join(dir, 'php-cgi-other');
  const image = fs.readFileSync(PHP_CGI);
  const at = image.indexOf('\0API20220829,NTS\0', 0, 'latin1');
  assert.ok(at > 0);
  image.write('API20990101,NTS', at + 1, 'latin1');
  fs.writeFileSync(bin, image, { mode: 0o755 });
  const port = await freePort();
  const other = await startTsfpm({ conf: `[global]\nerror_log = {dir}/error.log\n${pool('www', port, 'ondemand')}`, args: ['-n', '--php-cgi', bin] });
  try {
    const t: Target = { host: '127.0.0.1', port };
    await Promise.all([1, 2].map(() => fcgiRequest(t, scriptParams(docroot, '/slow.php', { QUERY_STRING: 'us=1300000' }), { timeoutMs: 10_000 })));
    const log = other.output();
    const why = [...log.matchAll(/WARNING: \[pool www\] slowlog entries of (\S+) carry no stack: (.*)\n/g)];
    assert.equal(why.length, 1, log);
    assert.equal(why[0][1], bin);
    assert.match(why[0][2], /^PHP 8\.2\.\d+ \(API20990101,NTS\): tsfpm knows the memory layout of PHP 8\.2 NTS \(API20220829,NTS\) only$/);
    assert.equal([...log.matchAll(/executing too slow/g)].length, 2);
    const entries = readOr(join(other.dir, 'www-slow.log'));
    assert.match(entries, new RegExp(`^(\\n\\[[^\\]]+\\]  \\[pool www\\] pid \\d+\\nscript_filename = ${escape(SLOW_PATH)}\\n){2}$`));
  } finally {
    assert.equal(await other.stop(), 0);
  }
});

test('request_terminate_timeout after fastcgi_finish_request(): not timed by default, timed with request_terminate_timeout_track_finished', async () => {
  const dir = makeTempDir('tsfpm-track-');
  fs.chmodSync(dir, 0o755);
  const script = join(dir, 'fin.php');
  fs.writeFileSync(script, `<?php echo "early"; fastcgi_finish_request(); sleep(3); file_put_contents($_GET['out'], "ran on");`);
  fs.chmodSync(script, 0o644);
  const pf = await freePort();
  const pt = await freePort();
  const t = await startTsfpm({
    conf: `[global]
error_log = {dir}/error.log
[free]
listen = 127.0.0.1:${pf}
pm = static
pm.max_children = 1
request_terminate_timeout = 1s
[tracked]
listen = 127.0.0.1:${pt}
pm = static
pm.max_children = 1
request_terminate_timeout = 1s
request_terminate_timeout_track_finished = yes
`,
  });
  try {
    const outs = [join(dir, 'free.out'), join(dir, 'tracked.out')];
    for (const f of outs) { try { fs.unlinkSync(f); } catch { /* none */ } }
    const rf = await fcgiRequest({ host: '127.0.0.1', port: pf }, { ...scriptParams(dir, '/fin.php'), QUERY_STRING: `out=${outs[0]}` });
    const rt = await fcgiRequest({ host: '127.0.0.1', port: pt }, { ...scriptParams(dir, '/fin.php'), QUERY_STRING: `out=${outs[1]}` });
    assert.equal(rf.body.toString(), 'early');
    assert.equal(rt.body.toString(), 'early');
    // The untracked script runs its 3 s to the end; the tracked one is stopped at 1 s.
    await waitFor(() => fs.existsSync(outs[0]), 6000).catch(() => assert.fail(`the finished script was stopped\n${t.output()}`));
    await t.waitForOutput(/WARNING: \[pool tracked\] child \d+, script '[^']*fin\.php' \(request: "GET \/fin\.php[^"]*"\) execution timed out \([\d.]+ sec\), terminating/, 3000);
    assert.equal(fs.existsSync(outs[1]), false, 'the tracked script ran on past its limit');
    assert.doesNotMatch(t.output(), /\[pool free\][^\n]*execution timed out/);
  } finally {
    await t.stop();
  }
});
