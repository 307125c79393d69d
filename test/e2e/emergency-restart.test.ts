// emergency_restart_threshold / emergency_restart_interval (issue 9): three
// children killed with SIGSEGV within the interval → php-fpm's WARNING, a
// reload (new children), and the pool serves again. A static pool's workers
// are reaped by their php-cgi parent, so there a worker gone unasked counts
// (src/pool/emergency.ts); a dynamic pool's children are tsfpm's own and their
// signal is seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { isAlive, phpWorkers, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';

const THRESHOLD = /WARNING: failed processes threshold \(3 in 10 sec\) is reached, initiating reload/;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function conf(pm: string): string {
  return '[global]\nerror_log = {dir}/error.log\nemergency_restart_threshold = 3\nemergency_restart_interval = 10s\n' +
    `[www]\nlisten = {dir}/www.sock\n${pm}`;
}

async function pid(d: Tsfpm, docroot: string): Promise<number> {
  const r = await fcgiRequest({ path: join(d.dir, 'www.sock') }, scriptParams(docroot, '/pid.php'));
  return Number(r.body.toString());
}

for (const [kind, pm] of [
  ['static (shared php-cgi parent)', 'pm = static\npm.max_children = 3\n'],
  ['dynamic', 'pm = dynamic\npm.max_children = 4\npm.start_servers = 3\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n'],
] as const) {
  test(`${kind}: three children dead of SIGSEGV within the interval → php-fpm's warning, a reload, serving again`, async () => {
    const docroot = makeTempDir('tsfpm-emergency-');
    writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();');
    const d = await startTsfpm({ conf: conf(pm) });
    try {
      const master = d.proc.pid ?? -1;
      await pid(d, docroot);
      // Every child up (the shared parent's workers each hold a slot's connection).
      const before = await waitFor(() => { const w = phpWorkers(master); return w.length >= 3 && w; }, 5000);
      await sleep(300);
      for (const w of before.slice(0, 3)) {
        assert.doesNotMatch(d.output(), THRESHOLD, 'threshold reached early');
        process.kill(w, 'SIGSEGV');
        await waitFor(() => !isAlive(w), 5000);
        await sleep(200);
      }
      await d.waitForOutput(THRESHOLD, 5000);
      const from = d.output().search(THRESHOLD);
      // php-fpm goes straight into the reload (no `Reloading in progress ...` of a signal).
      await d.waitForOutput(/NOTICE: ready to handle connections/, 10_000, from);
      const after = d.output().slice(from);
      assert.doesNotMatch(after, /Reloading in progress/);
      assert.match(after, /NOTICE: reloading: execvp\(/);
      if (kind === 'dynamic') assert.equal((d.output().match(/exited on signal 11 \(SIGSEGV\)/g) ?? []).length, 3, d.output());
      else assert.ok((d.output().match(/exited unexpectedly/g) ?? []).length >= 3, d.output());
      // Serving again, from new children, by the same master.
      const served = await waitFor(async () => { try { return await pid(d, docroot); } catch { return 0; } }, 10_000);
      assert.ok(served > 0);
      assert.ok(!before.includes(served), `served by ${served}, a child from before the restart`);
      assert.equal(d.proc.exitCode, null);
      assert.doesNotMatch(d.output(), /ALERT|reloading failed/);
    } finally {
      await d.stop();
    }
  });
}

test('crashes spread wider than the interval, or signals other than SEGV/BUS, restart nothing', async () => {
  const docroot = makeTempDir('tsfpm-emergency-');
  writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();');
  const d = await startTsfpm({
    conf: '[global]\nerror_log = {dir}/error.log\nemergency_restart_threshold = 2\nemergency_restart_interval = 1s\n' +
      '[www]\nlisten = {dir}/www.sock\npm = dynamic\npm.max_children = 3\npm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n',
  });
  try {
    const master = d.proc.pid ?? -1;
    await pid(d, docroot);
    const kill = async (sig: NodeJS.Signals): Promise<void> => {
      const w = await waitFor(() => phpWorkers(master)[0], 5000);
      process.kill(w, sig);
      await waitFor(() => !isAlive(w), 5000);
      await sleep(100);
    };
    await kill('SIGKILL');
    await kill('SIGKILL');
    await kill('SIGSEGV');
    await sleep(2100);                                // > interval (whole seconds)
    await kill('SIGSEGV');
    await sleep(500);
    assert.doesNotMatch(d.output(), /failed processes threshold|reloading/);
    assert.ok((await pid(d, docroot)) > 0);
  } finally {
    await d.stop();
  }
});

test('static: a shared parent dead of SIGSEGV counts once, its workers killed with it do not', async () => {
  const docroot = makeTempDir('tsfpm-emergency-');
  writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();');
  const d = await startTsfpm({ conf: conf('pm = static\npm.max_children = 3\n') });
  try {
    const master = d.proc.pid ?? -1;
    await pid(d, docroot);
    await waitFor(() => phpWorkers(master).length >= 3, 5000);
    await sleep(300);
    const parentOf = (): number => {
      const w = phpWorkers(master)[0];
      const stat = readFileSync(`/proc/${w}/stat`, 'latin1');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    };
    const parent = parentOf();
    process.kill(parent, 'SIGSEGV');
    await d.waitForOutput(/php-cgi parent \d+ exited on signal 11 \(SIGSEGV\)/, 5000);
    // Its three workers go with it (3 "exited unexpectedly"): 1 crash, not 4.
    await sleep(1000);
    assert.doesNotMatch(d.output(), THRESHOLD);
    await waitFor(async () => { try { return await pid(d, docroot); } catch { return 0; } }, 10_000);
    // Two more crashes reach the threshold of 3.
    for (let i = 0; i < 2; i++) {
      const w = await waitFor(() => { const ws = phpWorkers(master); return ws.length >= 3 && ws[0]; }, 5000);
      await sleep(300);
      process.kill(w, 'SIGSEGV');
      await waitFor(() => !isAlive(w), 5000);
      await sleep(200);
    }
    await d.waitForOutput(THRESHOLD, 5000);
  } finally {
    await d.stop();
  }
});
