// Process titles (issue 8 B): every php-cgi process of a pool, standalone
// children and a shared parent with its workers alike, shows as php-fpm's
// `php-fpm: pool NAME` in ps, so `pgrep -f 'php-fpm: pool NAME'` finds them,
// while its command name stays php-cgi.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, before, test } from 'node:test';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';
import { descendants, isAlive, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';

// Unique, because pgrep looks at the whole machine.
const POOL = `title${process.pid}`;
const TITLE = `php-fpm: pool ${POOL}`;

let docroot: string;
let daemon: Tsfpm | undefined;

before(() => {
  docroot = makeTempDir('tsfpm-title-');
  writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();');
});

afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

/** php-cgi processes (by command name) below the master. */
function phpProcs(master: number): number[] {
  return descendants(master).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/comm`, 'latin1').startsWith('php-cgi') && isAlive(pid); } catch { return false; }
  });
}

function argv(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').slice(0, -1);
}

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' }).trim().split('\n').map(Number).sort((a, b) => a - b);
  } catch {
    return []; // exit 1: no match
  }
}

const cases: Array<{ name: string; pm: string; count: number; env?: Record<string, string>; request?: boolean }> = [
  { name: 'static (shared php-cgi parent and its workers)', pm: 'pm = static\npm.max_children = 2', count: 3 },
  { name: 'static, TSFPM_SHARED_PARENT=0', pm: 'pm = static\npm.max_children = 2', count: 2, env: { TSFPM_SHARED_PARENT: '0' } },
  { name: 'dynamic', pm: 'pm = dynamic\npm.max_children = 3\npm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 2', count: 2 },
  { name: 'ondemand (after a request)', pm: 'pm = ondemand\npm.max_children = 2', count: 1, request: true },
];

for (const c of cases) {
  test(`process title ${TITLE} for every php-cgi process: ${c.name}`, async () => {
    const d = await startTsfpm({
      conf: `[global]\nerror_log = {dir}/error.log\n[${POOL}]\nlisten = {dir}/www.sock\n${c.pm}\n`,
      env: c.env,
    });
    daemon = d;
    const master = d.proc.pid ?? -1;
    const target = { path: join(d.dir, 'www.sock') };
    let served = -1;
    if (c.request) served = Number((await fcgiRequest(target, scriptParams(docroot, '/pid.php'))).body.toString());
    // Polled: a child is setpriv, then perl, for a moment before it is php-cgi.
    const php = await waitFor(() => { const p = phpProcs(master); return p.length === c.count && p; }, 5000)
      .catch(() => assert.fail(`${phpProcs(master).length} php-cgi processes below ${master}, want ${c.count}\n${d.output()}`));
    // All of them, and only them, as php-fpm's tools look for a pool's workers.
    await waitFor(() => php.every((pid) => argv(pid)[0] === TITLE), 3000)
      .catch(() => assert.fail(php.map((pid) => `${pid}: ${argv(pid).join(' ')}`).join('\n')));
    assert.deepEqual(pgrep(`^${TITLE}( |$)`), php);
    for (const pid of php) {
      const ps = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
      assert.ok(ps.startsWith(`${TITLE} `), `ps shows ${ps}`);
      // Nothing of the exec that set the title is left in the environment.
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').map((kv) => kv.slice(0, kv.indexOf('=')));
      for (const k of ['PWD', 'SHLVL', '_']) assert.ok(!env.includes(k), `${pid} has ${k} in its environment: ${env.join(' ')}`);
    }
    // And they serve.
    if (!c.request) served = Number((await fcgiRequest(target, scriptParams(docroot, '/pid.php'))).body.toString());
    assert.ok(php.includes(served), `served by ${served}, not one of ${php.join(',')}`);
  });
}
