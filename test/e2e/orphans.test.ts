// php-cgi sets no parent-death signal: without tsfpm's setpriv --pdeathsig, a
// master killed with SIGKILL would leave its children serving forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTsfpm } from '../helpers/daemon.js';
import { descendants, isAlive, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';

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
