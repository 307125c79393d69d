// php-cgi sets no parent-death signal: without tsfpm's setpriv --pdeathsig, a
// master killed with SIGKILL would leave its children serving forever. The
// workers of a shared php-cgi parent have none either: they go with their
// parent's process group (issue 8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { startTsfpm } from '../helpers/daemon.js';
import { childPids, cmdlineOf, descendants, groupMembers, isAlive, parentOf, pgidOf, phpWorkers, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';
import { startNginx } from '../helpers/nginx.js';
import { httpGet } from '../helpers/http.js';

test('a master killed with SIGKILL takes every php-cgi process with it', async () => {
  const docroot = makeTempDir('tsfpm-orphans-');
  writeFileSync(join(docroot, 'hello.php'), '<?php echo "Hello, World!\\n";');
  const daemon = await startTsfpm({
    conf: `[global]\nerror_log = {dir}/error.log\n[shared]\nlisten = {dir}/a.sock\npm = static\npm.max_children = 2\n` +
      `[own]\nlisten = {dir}/b.sock\npm = dynamic\npm.max_children = 3\npm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 2\n`,
  });
  const master = daemon.proc.pid ?? -1;
  for (const sock of ['a.sock', 'b.sock']) {
    const res = await fcgiRequest({ path: join(daemon.dir, sock) }, scriptParams(docroot, '/hello.php'));
    assert.equal(res.body.toString(), 'Hello, World!\n');
  }
  // shared parent + 2 workers, and 2 standalone children
  const php = await waitFor(() => { const d = descendants(master); return d.length >= 5 && d; }, 5000)
    .catch(() => assert.fail(`expected 5 php-cgi processes below ${master}: ${descendants(master).join(',')}`));
  const rundir = rundirOf(master);
  assert.ok(rundir !== null, `no run directory with master.pid ${master} in ${tmpdir()}`);
  process.kill(master, 'SIGKILL');
  await waitFor(() => php.every((pid) => !isAlive(pid)), 5000)
    .catch(() => assert.fail(`still alive after the master died: ${php.filter(isAlive).join(',')}`));
  await waitFor(() => !isAlive(master), 5000);
  // The dead master's run directory stays behind until the next master starts.
  assert.ok(existsSync(rundir), 'a SIGKILLed master cannot remove its own run directory');
  const next = await startTsfpm({ conf: '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 1\n' });
  try {
    assert.equal(existsSync(rundir), false, `${rundir} survived the next start`);
  } finally {
    assert.equal(await next.stop(), 0, next.output());
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Direct php-cgi children of the master: in a static-only config, the shared parent(s). */
function phpParents(master: number): number[] {
  return childPids(master).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/comm`, 'latin1').startsWith('php-cgi') && isAlive(pid); } catch { return false; }
  });
}

/** php-cgi processes naming `rundir` (their prepend shim) that are not below `master`. */
function strays(master: number, rundir: string): string[] {
  const tree = new Set(descendants(master));
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || tree.has(pid) || !isAlive(pid)) continue;
    let comm = '';
    try { comm = readFileSync(`/proc/${pid}/comm`, 'latin1'); } catch { continue; }
    if (comm.startsWith('php-cgi') && cmdlineOf(pid).includes(rundir)) out.push(`${pid} (ppid ${parentOf(pid)}, pgid ${pgidOf(pid)})`);
  }
  return out;
}

/**
 * Bounded HTTP load: `concurrency` loops over one URL until stop() or
 * `maxRequests` requests in all. 502s are expected while a parent dies.
 */
function load(url: string, concurrency: number, maxRequests: number): { counts: { ok: number; failed: number }; stop: () => Promise<void> } {
  const counts = { ok: 0, failed: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let on = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (on && counts.ok + counts.failed < maxRequests) {
      try {
        const res = await httpGet(url, { agent, timeoutMs: 5000 });
        if (res.status === 200) counts.ok++;
        else counts.failed++;
      } catch {
        counts.failed++;
      }
    }
  });
  return { counts, stop: async () => { on = false; await Promise.all(loops); agent.destroy(); } };
}

const SHARED_POOL = `[global]\nerror_log = {dir}/error.log\nlog_level = debug\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 4\n`;

function loadDocroot(): string {
  const docroot = makeTempDir('tsfpm-orphans-load-');
  writeFileSync(join(docroot, 'work.php'), '<?php usleep(2000); echo "ok ", getmypid(), "\\n";');
  return docroot;
}

test('a php-cgi parent SIGKILLed four times under load takes its workers along each time; the pool keeps serving', { timeout: 90_000 }, async (t) => {
  const docroot = loadDocroot();
  const daemon = await startTsfpm({ conf: SHARED_POOL });
  const master = daemon.proc.pid ?? -1;
  const nginx = await startNginx({ upstream: `unix:${join(daemon.dir, 'www.sock')}`, docroot });
  const traffic = load(nginx.url('/work.php'), 8, 200_000);
  const killed: number[] = [];
  try {
    const rundir = rundirOf(master);
    assert.ok(rundir !== null, `no run directory with master.pid ${master} in ${tmpdir()}`);
    for (let round = 1; round <= 4; round++) {
      // A parent with all its workers forked, serving for a moment.
      const parent = await waitFor(() => {
        const p = phpParents(master).filter((pid) => !killed.includes(pid));
        return p.length === 1 && childPids(p[0]).length === 4 && p[0];
      }, 5000).catch(() => assert.fail(`round ${round}: no php-cgi parent with 4 workers below ${master}: ${descendants(master).join(',')}\n${daemon.output()}`));
      // The parent leads the process group its workers are in (php-cgi calls setsid()).
      assert.equal(pgidOf(parent), parent, `parent ${parent} is not a process group leader`);
      for (const w of childPids(parent)) assert.equal(pgidOf(w), parent, `worker ${w} is not in its parent's group ${parent}`);
      await sleep(300); // serving under load
      process.kill(parent, 'SIGKILL');
      killed.push(parent);
      await daemon.waitForOutput(new RegExp(`php-cgi parent ${parent} exited on signal 9`), 5000);
      // Its process group (the workers) goes with it.
      await waitFor(() => groupMembers(parent).length === 0, 3000).catch(() => assert.fail(
        `round ${round}: workers of killed parent ${parent} still alive: ${groupMembers(parent).map((p) => `${p} (ppid ${parentOf(p)})`).join(', ')}\n${daemon.output()}`));
    }
    // The load goes on on the last parent.
    const before = traffic.counts.ok;
    await waitFor(() => traffic.counts.ok >= before + 50, 5000)
      .catch(() => assert.fail(`no traffic after the last kill (${JSON.stringify(traffic.counts)})\n${daemon.output()}`));
    await traffic.stop();
    t.diagnostic(`requests: ${traffic.counts.ok} ok, ${traffic.counts.failed} failed; killed parents ${killed.join(',')}`);

    // Nothing of a killed parent's process group is left, and no worker of the
    // pool lives outside the master's tree.
    const left = (): number[] => killed.flatMap((p) => groupMembers(p));
    await waitFor(() => left().length === 0, 3000).catch(() => assert.fail(
      `workers of killed parents still alive: ${left().map((p) => `${p} (ppid ${parentOf(p)})`).join(', ')}\n${daemon.output()}`));
    assert.deepEqual(strays(master, rundir), []);

    // The pool still serves with a full set of workers.
    await waitFor(() => phpWorkers(master).length === 4, 5000)
      .catch(() => assert.fail(`${phpWorkers(master).length} workers, want 4\n${daemon.output()}`));
    for (let i = 0; i < 20; i++) {
      const res = await httpGet(nginx.url('/work.php'));
      assert.equal(res.status, 200, `${res.status} ${res.body}\n${nginx.errorLog()}`);
      assert.match(res.body, /^ok \d+\n$/);
    }
  } finally {
    await traffic.stop();
    // Whatever a failed run left of the killed parents' groups must not outlive the test.
    for (const p of killed) { try { process.kill(-p, 'SIGKILL'); } catch { /* group empty */ } }
    await nginx.stop();
    assert.equal(await daemon.stop(), 0, daemon.output());
  }
});

test('a master SIGKILLed under load leaves no php-cgi parent or worker behind', { timeout: 60_000 }, async () => {
  const docroot = loadDocroot();
  const daemon = await startTsfpm({ conf: SHARED_POOL });
  const master = daemon.proc.pid ?? -1;
  const nginx = await startNginx({ upstream: `unix:${join(daemon.dir, 'www.sock')}`, docroot });
  const traffic = load(nginx.url('/work.php'), 8, 200_000);
  try {
    const rundir = rundirOf(master);
    assert.ok(rundir !== null);
    const php = await waitFor(() => { const d = descendants(master); return d.length >= 5 && d; }, 5000)
      .catch(() => assert.fail(`expected 5 php-cgi processes below ${master}: ${descendants(master).join(',')}`));
    await waitFor(() => traffic.counts.ok >= 200, 5000)
      .catch(() => assert.fail(`no traffic (${JSON.stringify(traffic.counts)})\n${daemon.output()}`));
    process.kill(master, 'SIGKILL');
    await waitFor(() => php.every((pid) => !isAlive(pid)), 5000)
      .catch(() => assert.fail(`still alive after the master died: ${php.filter(isAlive).map((p) => `${p} (ppid ${parentOf(p)})`).join(', ')}`));
    await traffic.stop();
    // Also any worker forked after the snapshot.
    await waitFor(() => strays(master, rundir).length === 0, 3000)
      .catch(() => assert.fail(`left behind: ${strays(master, rundir).join(', ')}`));
  } finally {
    await traffic.stop();
    await nginx.stop();
    await daemon.stop();
  }
});

/** The run directory whose marker names this master pid. */
function rundirOf(pid: number): string | null {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('tsfpm-')) continue;
    try {
      if (readFileSync(join(tmpdir(), name, 'master.pid'), 'latin1').trim().endsWith(` ${pid}`)) return join(tmpdir(), name);
    } catch { /* not a run directory */ }
  }
  return null;
}
