// Reload (USR2/HUP) with real processes, signals and nginx: nothing dropped
// under load (with and without nginx upstream keep-alive), the new
// configuration in force, the same master pid; a broken configuration keeps
// the running one serving and says where it is broken; pools added, removed
// and moved; running requests finish (bounded by process_control_timeout);
// global settings re-applied; USR1 and QUIT still work. docs/reload.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { startNginx } from '../helpers/nginx.js';
import { describeLoad, startLoad } from '../helpers/load.js';
import { fcgiRequest, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { descendants } from '../helpers/procs.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const docroot = makeTempDir('tsfpm-reload-docroot-');
writeFileSync(join(docroot, 'work.php'),
  '<?php usleep(15000); $in = file_get_contents("php://input"); echo "ok ", getmypid(), " ", ini_get("memory_limit"), " ", strlen($in), "\\n";');
writeFileSync(join(docroot, 'slow.php'),
  '<?php $t = (int) ($_GET["ms"] ?? 1500); $end = microtime(true) + $t / 1000; while (microtime(true) < $end) usleep(20000); echo "finished ", ini_get("memory_limit"), "\\n";');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The main php-fpm.conf: its pools come from `poolDir/*.conf`. */
function mainConf(poolDir: string, extra = ''): string {
  return `[global]\nerror_log = {dir}/error.log\npid = {dir}/tsfpm.pid\n${extra}include = ${poolDir}/*.conf\n`;
}

function wwwPool(children: number, memoryMb: number, listen = '{dir}/www.sock'): string {
  return `[www]\nlisten = ${listen}\npm = static\npm.max_children = ${children}\npm.status_path = /status\nphp_admin_value[memory_limit] = ${memoryMb}M\n`;
}

/** Writes pool files (`{dir}` = the daemon's directory) and removes the others. */
function writePools(poolDir: string, d: Tsfpm | string, pools: Record<string, string>): void {
  const dir = typeof d === 'string' ? d : d.dir;
  mkdirSync(poolDir, { recursive: true });
  for (const f of ['www', 'a', 'b', 'c', 'd']) if (!(f in pools)) rmSync(join(poolDir, `${f}.conf`), { force: true });
  for (const [name, text] of Object.entries(pools)) writeFileSync(join(poolDir, `${name}.conf`), text.replaceAll('{dir}', dir));
}

async function statusOf(target: Target): Promise<Record<string, string>> {
  const res = await fcgiRequest(target, scriptParams(docroot, '/status'));
  const out: Record<string, string> = {};
  for (const line of res.body.toString().split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

async function work(target: Target, uri = '/work.php'): Promise<string> {
  return (await fcgiRequest(target, scriptParams(docroot, uri), { timeoutMs: 15_000 })).body.toString();
}

/** The master's descendants titled `php-fpm: pool NAME`. */
function poolPids(d: Tsfpm, name: string): number[] {
  return descendants(d.proc.pid ?? -1).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith(`php-fpm: pool ${name}\0`);
    } catch {
      return false;   // gone
    }
  });
}

const poolProcesses = (d: Tsfpm, name: string): number => poolPids(d, name).length;

/** Replaced children must be gone, not living on under init (no longer the master's descendants). */
async function replacedGone(d: Tsfpm, name: string, seen: Set<number>): Promise<void> {
  await until('replaced children gone', () => {
    const now = new Set(poolPids(d, name));
    return [...seen].every((pid) => now.has(pid) || !existsSync(`/proc/${pid}`));
  }, 5000).catch((e: Error) => {
    const left = [...seen].filter((pid) => existsSync(`/proc/${pid}`) && !poolPids(d, name).includes(pid));
    throw new Error(`${e.message}: ${left.join(' ')} still alive`);
  });
}

/** Processes of a static pool of n: its workers, plus their php-cgi parent unless TSFPM_SHARED_PARENT=0. */
const staticProcesses = (n: number): number => n + (process.env.TSFPM_SHARED_PARENT === '0' ? 0 : 1);

/** NOTICE and above, without timestamps, from `from` on. */
function logLines(d: Tsfpm, from = 0): string[] {
  return d.output().slice(from).split('\n').filter((l) => /\] (NOTICE|WARNING|ERROR|ALERT): /.test(l)).map((l) => l.replace(/^\[[^\]]+\] /, ''));
}

async function reload(d: Tsfpm, sig: NodeJS.Signals = 'SIGUSR2'): Promise<number> {
  const from = d.output().length;
  d.signal(sig);
  await d.waitForOutput(/ready to handle connections|reloading failed/, 15_000, from);
  return from;
}

for (const keepalive of [0, 8]) {
  test(`five USR2 under load through nginx${keepalive ? ' with upstream keepalive' : ''}: no error, the new config in force, same pid`, async () => {
    const poolDir = makeTempDir('tsfpm-reload-pools-');
    const boot = makeTempDir('tsfpm-reload-boot-');
    writePools(poolDir, boot, { www: wwwPool(2, 64, `${boot}/www.sock`) });
    const d = await startTsfpm({ conf: mainConf(poolDir) });
    const sock = join(boot, 'www.sock');
    const nginx = await startNginx({ upstream: `unix:${sock}`, docroot, keepalive: keepalive || undefined });
    const load = startLoad({ url: nginx.url('/work.php'), concurrency: 8, check: (b) => /^ok \d+ \d+M (0|2048)\n$/.test(b) });
    try {
      await until('load running', () => load.count >= 20);
      const replaced = new Set<number>();
      for (let i = 1; i <= 5; i++) {
        for (const pid of poolPids(d, 'www')) replaced.add(pid);
        writePools(poolDir, boot, { www: wwwPool(2 + i, 64 + i, `${boot}/www.sock`) });
        const from = await reload(d, i === 3 ? 'SIGHUP' : 'SIGUSR2');
        assert.deepEqual(logLines(d, from), [
          'NOTICE: Reloading in progress ...',
          `NOTICE: reloading: execvp("${d.proc.spawnargs[1]}", {${d.proc.spawnargs.slice(1).map((a) => `"${a}"`).join(', ')}})`,
          `NOTICE: using inherited socket fd=${/fd=(\d+)/.exec(d.output().slice(from))?.[1]}, "${sock}"`,
          `NOTICE: fpm is running, pid ${d.proc.pid}`,
          'NOTICE: ready to handle connections',
        ]);
        // New children, new php.ini settings.
        await until(`memory_limit ${64 + i}M`, async () => (await work({ path: sock })).includes(` ${64 + i}M `));
        const seen = load.count;
        await until('more load', () => load.count >= seen + 40);
      }
      const r = await load.stop();
      if (process.env.TSFPM_TEST_VERBOSE === '1') process.stderr.write(`reload under load: ${describeLoad(r)}\n`);
      assert.equal(r.errors.size, 0, describeLoad(r));
      assert.equal(r.non2xx.size, 0, describeLoad(r));
      assert.deepEqual(r.badBodies, [], describeLoad(r));
      assert.ok(r.ok >= 200, describeLoad(r));
      assert.match(nginx.errorLog(), /^(?!.*\[error\])/s, 'nginx logged errors');
      assert.equal(readFileSync(join(d.dir, 'tsfpm.pid'), 'utf8'), String(d.proc.pid));
      assert.equal((await statusOf({ path: sock }))['total processes'], '7');
      // The old generations are gone: 7 children (and their shared php-cgi parent).
      await until('old children gone', () => poolProcesses(d, 'www') === staticProcesses(7));
      await replacedGone(d, 'www', replaced);
    } finally {
      await load.stop();
      await nginx.stop();
      await d.stop();
    }
  });
}

test('USR2 with a broken config: the running one serves on, the log says where; fixed, the reload happens', async () => {
  const poolDir = makeTempDir('tsfpm-reload-pools-');
  const boot = makeTempDir('tsfpm-reload-boot-');
  const sock = join(boot, 'www.sock');
  writePools(poolDir, boot, { www: wwwPool(2, 64, sock) });
  const d = await startTsfpm({ conf: mainConf(poolDir) });
  const nginx = await startNginx({ upstream: `unix:${sock}`, docroot, keepalive: 4 });
  const load = startLoad({ url: nginx.url('/work.php'), concurrency: 3, check: (b) => b.startsWith('ok ') });
  const busy: Server = createServer();
  try {
    const www = join(poolDir, 'www.conf');
    // A validation error: php-fpm's message, then where it is.
    writePools(poolDir, boot, { www: wwwPool(0, 65, sock) });
    let from = await reload(d);
    assert.deepEqual(logLines(d, from), [
      'NOTICE: Reloading in progress ...',
      'ALERT: [pool www] pm.max_children must be a positive value',
      'ERROR: failed to post process the configuration',
      `ERROR: reloading failed (${www}:4): the running configuration stays in force`,
    ]);
    assert.equal((await statusOf({ path: sock }))['total processes'], '2');
    assert.match(await work({ path: sock }), / 64M /);

    // A parse error carries its own [file:line].
    writeFileSync(www, wwwPool(3, 65, sock).replace('pm.max_children', 'pm.max_chldren'));
    from = await reload(d);
    assert.deepEqual(logLines(d, from), [
      'NOTICE: Reloading in progress ...',
      `ERROR: [${www}:4] unknown entry 'pm.max_chldren'`,
      `ERROR: Unable to include ${www} from ${join(d.dir, 'php-fpm.conf')} at line 4`,
      `ERROR: failed to load configuration file '${join(d.dir, 'php-fpm.conf')}'`,
      `ERROR: reloading failed (${www}:4): the running configuration stays in force`,
    ]);

    // A new socket that cannot be opened (the port is taken): nothing changes either.
    const port = await freePort();
    await new Promise<void>((r) => busy.listen(port, '127.0.0.1', r));
    writePools(poolDir, boot, { www: wwwPool(3, 65, sock), a: `[a]\nlisten = 127.0.0.1:${port}\npm = ondemand\npm.max_children = 1\n` });
    from = await reload(d);
    assert.deepEqual(logLines(d, from), [
      'NOTICE: Reloading in progress ...',
      `ERROR: unable to bind listening socket for address '127.0.0.1:${port}': Address already in use (98)`,
      `ERROR: reloading failed (${join(poolDir, 'a.conf')}:2): the running configuration stays in force`,
    ]);
    assert.equal((await statusOf({ path: sock }))['total processes'], '2');
    assert.match(await work({ path: sock }), / 64M /);

    // Fixed: the new configuration is in force.
    writePools(poolDir, boot, { www: wwwPool(3, 65, sock) });
    from = await reload(d);
    assert.match(d.output().slice(from), /ready to handle connections/);
    await until('new config', async () => (await work({ path: sock })).includes(' 65M '));
    assert.equal((await statusOf({ path: sock }))['total processes'], '3');
    const r = await load.stop();
    assert.equal(r.errors.size + r.non2xx.size + r.badBodies.length, 0, describeLoad(r));
    assert.ok(r.ok > 0, describeLoad(r));
  } finally {
    busy.close();
    await load.stop();
    await nginx.stop();
    await d.stop();
  }
});

test('pools added, removed and moved: kept sockets inherited, a moved listen closes the old socket', async () => {
  const poolDir = makeTempDir('tsfpm-reload-pools-');
  const boot = makeTempDir('tsfpm-reload-boot-');
  const port = await freePort();
  const pool = (name: string, listen: string): string => `[${name}]\nlisten = ${listen}\npm = dynamic\npm.max_children = 3\npm.start_servers = 1\npm.min_spare_servers = 1\npm.max_spare_servers = 2\n`;
  writePools(poolDir, boot, { a: pool('a', `${boot}/a.sock`), b: pool('b', `${boot}/b.sock`), c: pool('c', `127.0.0.1:${port}`) });
  const d = await startTsfpm({ conf: mainConf(poolDir) });
  try {
    for (const t of [{ path: `${boot}/a.sock` }, { path: `${boot}/b.sock` }, { host: '127.0.0.1', port }]) assert.match(await work(t), /^ok /);
    const seenB = new Set(poolPids(d, 'b'));
    writePools(poolDir, boot, { a: pool('a', `${boot}/a.sock`), c: pool('c', `${boot}/c2.sock`), d: pool('d', `${boot}/d.sock`) });
    const from = await reload(d);
    const lines = logLines(d, from);
    assert.deepEqual(lines.filter((l) => l.includes('inherited')).map((l) => l.replace(/fd=\d+/, 'fd=N')), [
      `NOTICE: using inherited socket fd=N, "${boot}/a.sock"`,
      `NOTICE: using inherited socket fd=N, "${boot}/b.sock"`,
      `NOTICE: using inherited socket fd=N, "127.0.0.1:${port}"`,
    ]);
    assert.equal(lines.at(-1), 'NOTICE: ready to handle connections');
    for (const t of [{ path: `${boot}/a.sock` }, { path: `${boot}/c2.sock` }, { path: `${boot}/d.sock` }]) assert.match(await work(t), /^ok /);
    assert.equal(existsSync(`${boot}/b.sock`), false, 'removed pool left its socket file');
    await assert.rejects(work({ host: '127.0.0.1', port }), /ECONNREFUSED/);
    await until('b children gone', () => poolProcesses(d, 'b') === 0);
    await replacedGone(d, 'b', seenB);
  } finally {
    await d.stop();
  }
});

test('running requests finish with the old config, waiting ones go to the new children; process_control_timeout bounds the running ones (SIGKILL)', async () => {
  const poolDir = makeTempDir('tsfpm-reload-pools-');
  const boot = makeTempDir('tsfpm-reload-boot-');
  const sock = { path: `${boot}/www.sock` };
  writePools(poolDir, boot, { www: wwwPool(1, 64, sock.path) });
  const d = await startTsfpm({ conf: mainConf(poolDir) });
  try {
    // process_control_timeout = 0: no limit, the request finishes under the old settings;
    // the requests waiting for the only child are served by the new children meanwhile.
    const order: string[] = [];
    const running = work(sock, '/slow.php?ms=2000').then((b) => { order.push('slow'); return b; });
    await sleep(300);
    const waiting = [1, 2, 3].map(() => work(sock).then((b) => { order.push('waiting'); return b; }));
    await sleep(200);
    writePools(poolDir, boot, { www: wwwPool(2, 65, sock.path) });
    await reload(d);
    for (const b of await Promise.all(waiting)) assert.match(b, / 65M /);
    assert.equal(await running, 'finished 64M\n');
    assert.deepEqual(order, ['waiting', 'waiting', 'waiting', 'slow']);

    // process_control_timeout = 1: a 6 s request is cut after about 1 s.
    writeFileSync(d.confPath, mainConf(poolDir, 'process_control_timeout = 1\n').replaceAll('{dir}', d.dir));
    await reload(d);
    const started = Date.now();
    const long = work(sock, '/slow.php?ms=6000').then(() => 'answered', (e: Error) => e.message);
    await sleep(300);
    await reload(d);
    assert.equal(await long, 'connection closed before END_REQUEST');
    assert.ok(Date.now() - started < 4000, `cut after ${Date.now() - started} ms`);
    assert.match(await work(sock), /^ok /);
  } finally {
    await d.stop();
  }
});

test('global settings re-applied: error_log, log_level and the pid file move; USR1 works after a reload', async () => {
  const poolDir = makeTempDir('tsfpm-reload-pools-');
  const boot = makeTempDir('tsfpm-reload-boot-');
  const sock = { path: `${boot}/www.sock` };
  writePools(poolDir, boot, { www: wwwPool(1, 64, sock.path) });
  const d = await startTsfpm({ conf: mainConf(poolDir), logToFile: true });
  try {
    const log1 = join(d.dir, 'error.log');
    const log2 = join(d.dir, 'error2.log');
    writeFileSync(d.confPath, `[global]\nerror_log = ${log2}\npid = ${d.dir}/moved.pid\nlog_level = warning\ninclude = ${poolDir}/*.conf\n`);
    d.signal('SIGUSR2');
    await until('reload in the old log', () => readFileSync(log1, 'utf8').includes('reloading: execvp'));
    // log_level = warning: the new configuration's own NOTICEs are not written.
    // The new file is written before the swap, the old one removed once the new pools are up.
    await until('pid file moved', () => existsSync(join(d.dir, 'moved.pid')) && !existsSync(join(d.dir, 'tsfpm.pid')));
    assert.equal(readFileSync(join(d.dir, 'moved.pid'), 'utf8'), String(d.proc.pid));
    assert.doesNotMatch(readFileSync(log1, 'utf8'), /using inherited socket/);
    assert.match(await work(sock), /^ok /);
    writeFileSync(d.confPath, `[global]\nerror_log = ${log2}\npid = ${d.dir}/moved.pid\ninclude = ${poolDir}/*.conf\n`);
    d.signal('SIGUSR2');
    await until('notice level again', () => existsSync(log2) && readFileSync(log2, 'utf8').includes('ready to handle connections'));
    renameSync(log2, `${log2}.1`);
    d.signal('SIGUSR1');
    await until('log reopened', () => existsSync(log2) && readFileSync(log2, 'utf8').includes('error log file re-opened'));
  } finally {
    await d.stop();
  }
});

test('QUIT right after USR2: finishes, exits 0, no child left', async () => {
  const poolDir = makeTempDir('tsfpm-reload-pools-');
  const boot = makeTempDir('tsfpm-reload-boot-');
  writePools(poolDir, boot, { www: wwwPool(2, 64, `${boot}/www.sock`), d: `[d]\nlisten = ${boot}/d.sock\npm = ondemand\npm.max_children = 1\n` });
  const d = await startTsfpm({ conf: mainConf(poolDir) });
  await until('children up', () => poolProcesses(d, 'www') === staticProcesses(2));
  const children = descendants(d.proc.pid ?? -1);
  writePools(poolDir, boot, { www: wwwPool(3, 64, `${boot}/www.sock`), d: `[d]\nlisten = ${boot}/d2.sock\npm = ondemand\npm.max_children = 1\n` });
  d.signal('SIGUSR2');
  d.signal('SIGQUIT');
  assert.equal(await d.exited, 0, d.output());
  const lines = logLines(d);
  assert.ok(lines.includes('NOTICE: Reloading in progress ...'), d.output());
  assert.ok(lines.includes('NOTICE: Finishing ...'), d.output());
  assert.equal(lines.at(-1), 'NOTICE: exiting, bye-bye!');
  // A shared parent's workers get its SIGTERM as it exits: gone a moment later.
  await until('no child left', () => children.every((p) => !existsSync(`/proc/${p}`)), 3000);
  for (const f of ['www.sock', 'd.sock', 'd2.sock']) assert.equal(existsSync(join(boot, f)), false, `${f} left behind`);
});
