// Process managers end to end (issue 4, reference §5): pm static (initial
// children, pm.max_requests respawns), dynamic (grows under load, shrinks one
// idle child per second down to max_spare), ondemand (0 -> n -> 0 after
// pm.process_idle_timeout). Requests go straight to the pool with the test
// FastCGI client; children are counted through /proc.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, before, test } from 'node:test';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { fcgiRequest, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { phpWorkers, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';

let docroot: string;
let daemon: Tsfpm | undefined;

before(() => {
  docroot = makeTempDir('tsfpm-docroot-');
  writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();\n');
  // Blocks the signals php-fpm and tsfpm stop an idle child with (php-src bug77023).
  writeFileSync(join(docroot, 'block.php'), '<?php pcntl_sigprocmask(SIG_BLOCK, [SIGQUIT, SIGTERM]); usleep(300000); echo getmypid();\n');
  writeFileSync(join(docroot, 'sleep.php'), "<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo getmypid();\n");
});

afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

function pool(pm: string): string {
  return `[global]
error_log = {dir}/error.log
log_level = debug
[www]
listen = {dir}/www.sock
${pm}
`;
}

async function start(pm: string): Promise<{ d: Tsfpm; target: Target; kids: () => number[] }> {
  const d = await startTsfpm({ conf: pool(pm) });
  daemon = d;
  const master = d.proc.pid ?? -1;
  const kids = (): number[] => phpWorkers(master);
  return { d, target: { path: join(d.dir, 'www.sock') }, kids };
}

/** One request; returns the pid of the child that served it. */
async function served(target: Target, uri: string, d: Tsfpm): Promise<number> {
  const res = await fcgiRequest(target, scriptParams(docroot, uri), { timeoutMs: 8000 }).catch((err: unknown) => {
    throw new Error(`${uri}: ${err instanceof Error ? err.message : String(err)}\n--- tsfpm output ---\n${d.output()}`);
  });
  assert.equal(res.status, 200, `${uri}: ${res.status} ${res.body.toString()} ${res.stderr}\n${d.output()}`);
  const pid = Number(res.body.toString());
  assert.ok(Number.isInteger(pid) && pid > 0, res.body.toString());
  return pid;
}

/** Samples the child count every 50 ms until stop() is called; returns the maximum seen. */
function sampleMax(kids: () => number[]): { stop: () => Promise<number> } {
  let max = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      max = Math.max(max, kids().length);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { stop: async () => { on = false; await loop; return max; } };
}

/** Log timestamps ([25-Nov-2026 22:13:43.508000]) as ms since the epoch. */
function stamp(line: string): number {
  const m = /^\[(\d+)-(\w+)-(\d+) (\d+):(\d+):(\d+)(?:\.(\d+))?\]/.exec(line);
  if (m === null) return NaN;
  return Date.parse(`${m[2]} ${m[1]} ${m[3]} ${m[4]}:${m[5]}:${m[6]}`) + Number(`0.${m[7] ?? '0'}`) * 1000;
}

test('static: exactly pm.max_children children at start, and no more later', async () => {
  const { d, kids } = await start('pm = static\npm.max_children = 4');
  // Polled: a shared php-cgi parent forks its workers just after tsfpm is ready.
  await waitFor(() => kids().length === 4, 3000)
    .catch(() => assert.fail(`${kids().length} children, want 4\n${d.output()}`));
  await new Promise((r) => setTimeout(r, 1300)); // past a maintenance tick
  assert.equal(kids().length, 4, d.output());
});

test('static: pm.max_requests = 3 respawns the child after every 3 requests', async () => {
  const { d, target, kids } = await start('pm = static\npm.max_children = 1\npm.max_requests = 3');
  const first = await waitFor(() => kids().length === 1 && kids(), 3000)
    .catch(() => assert.fail(`${kids().length} children, want 1\n${d.output()}`));
  const pids: number[] = [];
  for (let i = 0; i < 9; i++) {
    pids.push(await served(target, '/pid.php', d).catch((err: Error) => {
      throw new Error(`request ${i + 1} of 9 (served so far by ${pids.join(',')}): ${err.message}`);
    }));
  }
  // (In shared-parent mode the first sample may be the parent before it forked.)
  assert.ok(first.length === 1);
  const [a, b, c] = [pids[0], pids[3], pids[6]];
  assert.deepEqual(pids, [a, a, a, b, b, b, c, c, c], `served by ${pids.join(',')}`);
  assert.equal(new Set([a, b, c]).size, 3, `served by ${pids.join(',')}`);
  for (const [old, next] of [[a, b], [b, c]]) {
    await d.waitForOutput(new RegExp(`NOTICE: .*\\[pool www\\] child ${old} exited (with code 0 )?after \\d+\\.\\d{6} seconds from start`), 3000);
    await d.waitForOutput(new RegExp(`NOTICE: .*\\[pool www\\] child ${next} started`), 3000);
  }
  // c has served its 3 requests too: it is replaced while idle.
  await waitFor(() => kids().length === 1 && !kids().includes(c), 3000)
    .catch(() => assert.fail(`child ${c} not replaced after 3 requests: ${kids().join(',')}\n${d.output()}`));
});

test('dynamic: grows under load, then shrinks to max_spare one idle child per second', async (t) => {
  const { d, target, kids } = await start(
    'pm = dynamic\npm.max_children = 5\npm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 2',
  );
  // Waited for: a child is still `setpriv` for a moment before it execs php-cgi.
  const initial = await waitFor(() => kids().length === 2 && kids(), 3000)
    .catch(() => assert.fail(`${kids().length} children at start, want 2\n${d.output()}`));
  const logFrom = d.output().length;

  const sampler = sampleMax(kids);
  const t0 = Date.now();
  const pids = await Promise.all(Array.from({ length: 5 }, () => served(target, '/sleep.php?ms=1500', d)));
  const loadMs = Date.now() - t0;
  const peak = await sampler.stop();
  t.diagnostic(`5 x 1.5 s requests done in ${loadMs} ms, peak ${peak} children, served by ${[...new Set(pids)].join(',')}`);

  assert.ok(peak > 2, `never more than ${peak} children under load\n${d.output()}`);
  assert.ok(peak <= 5, `peak ${peak} > pm.max_children`);
  const started = [...d.output().slice(logFrom).matchAll(/\[pool www\] child (\d+) started/g)].map((m) => Number(m[1]));
  assert.ok(started.length >= 1 && started.every((p) => !initial.includes(p)), `no new "child N started" lines\n${d.output()}`);
  // 2 children, one more at once (the early tick), then one per tick: the
  // five cannot all finish in one 1.5 s round.
  assert.ok(loadMs >= 2400, `load finished in ${loadMs} ms`);

  // Idle again: killed down to max_spare_servers (2), not below min_spare (1).
  await waitFor(() => kids().length <= 2, 6000)
    .catch(() => assert.fail(`still ${kids().length} children 6 s after the load\n${d.output()}`));
  // Every child started for the load is matched by one PM kill (2 remain); the last
  // may still be a zombie that tsfpm has not reaped (and logged) yet.
  const spawned = [...d.output().slice(logFrom).matchAll(/\[pool www\] child (\d+) started/g)].length;
  const pmKills = (): string[] => d.output().slice(logFrom).split('\n').filter((l) => /has been killed by the process management/.test(l));
  await waitFor(() => pmKills().length === spawned, 2000)
    .catch(() => assert.fail(`${pmKills().length} PM kills for ${spawned} children started\n${d.output()}`));
  const kills = pmKills();
  const times = kills.map(stamp);
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] >= 800, `two idle kills ${times[i] - times[i - 1]} ms apart (one per tick)\n${kills.join('\n')}`);
  }
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(kids().length, 2, `settled at ${kids().length}\n${d.output()}`);
});

test('dynamic: a waiting request runs the tick at once; an idle child that ignores the kill gets SIGKILL at the next tick and is replaced', async () => {
  const { d, target, kids } = await start(
    'pm = dynamic\npm.max_children = 2\npm.start_servers = 1\npm.min_spare_servers = 1\npm.max_spare_servers = 1',
  );
  await waitFor(() => kids().length === 1, 3000).catch(() => assert.fail(`${kids().length} children at start\n${d.output()}`));
  const logFrom = d.output().length;
  // Both at once: the second finds no idle child, and a second child serves it
  // now rather than after the first request (php-fpm: at its next tick).
  const t0 = Date.now();
  const pids = await Promise.all([served(target, '/block.php', d), served(target, '/block.php', d)]);
  const ms = Date.now() - t0;
  assert.notEqual(pids[0], pids[1], `one child served both (${ms} ms)\n${d.output()}`);
  assert.ok(ms < 550, `two 300 ms requests took ${ms} ms`);
  // Two idle > max_spare 1: each blocked child is asked to quit, then SIGKILLed
  // a tick later and replaced (php-fpm's WARNING and NOTICE); the replacements
  // quit when asked, and one child remains.
  const log = (): string => d.output().slice(logFrom);
  for (const pid of pids) {
    await waitFor(() => new RegExp(`WARNING: .*\\[pool www\\] child ${pid} exited on signal 9 \\(SIGKILL\\) after \\d+\\.\\d+ seconds from start`).test(log()), 8000)
      .catch(() => assert.fail(`no SIGKILL line for ${pid}\n${log()}`));
  }
  // Each replacement is announced right after its SIGKILL line (same tick).
  const respawns = (): number => [...log().matchAll(/NOTICE: .*\[pool www\] child \d+ started/g)].length;
  await waitFor(() => respawns() === 2, 2000).catch(() => assert.fail(`${respawns()} replacements announced, want 2\n${log()}`));
  await waitFor(() => kids().length === 1, 4000).catch(() => assert.fail(`${kids().length} children in the end\n${log()}`));
  assert.equal(await served(target, '/pid.php', d) > 0, true);
});

test('ondemand: 0 children, 3 under 3 concurrent requests, 0 again after process_idle_timeout', async (t) => {
  const { d, target, kids } = await start('pm = ondemand\npm.max_children = 3\npm.process_idle_timeout = 2s');
  assert.equal(kids().length, 0, d.output());
  await new Promise((r) => setTimeout(r, 1200)); // a tick spawns nothing
  assert.equal(kids().length, 0, d.output());

  // Staggered by 150 ms: php-fpm forks on each readable edge of the listening socket,
  // so three connections in the same instant may all wait for one child there.
  const pids = await Promise.all(Array.from({ length: 3 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * 150));
    return served(target, '/sleep.php?ms=1000', d);
  }));
  assert.equal(new Set(pids).size, 3, `served by ${pids.join(',')}\n${d.output()}`);
  assert.equal(kids().length, 3, d.output());
  const idleSince = Date.now();

  // Not before the timeout...
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(kids().length, 3, `children reaped before process_idle_timeout\n${d.output()}`);
  // ...then one per tick.
  await waitFor(() => kids().length === 0, 6000)
    .catch(() => assert.fail(`still ${kids().length} children after idling\n${d.output()}`));
  t.diagnostic(`0 children ${Date.now() - idleSince} ms after the last request`);
  // The last one may still be a zombie that tsfpm has not reaped (and logged) yet.
  const pmKills = (): number => d.output().split('\n').filter((l) => /has been killed by the process management/.test(l)).length;
  await waitFor(() => pmKills() === 3, 2000)
    .catch(() => assert.fail(`${pmKills()} "killed by the process management" lines, want 3\n${d.output()}`));

  // And it starts again on demand.
  await served(target, '/pid.php', d);
  assert.equal(kids().length, 1);
});
