// The master and its php-cgi children run under SCHED_BATCH
// (src/control/scheduling.ts); TSFPM_SCHED=other leaves the policy alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTsfpm } from '../helpers/daemon.js';
import { descendants, waitFor } from '../helpers/procs.js';
import { schedulingPolicy } from '../../src/control/scheduling.js';

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
const CONF = '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 2\n';

/** Policies of the master and every php-cgi process under it. */
async function policies(env: Record<string, string>): Promise<{ master: number | null; php: (number | null)[] }> {
  const d = await startTsfpm({ conf: CONF, env });
  try {
    const pid = d.proc.pid ?? -1;
    // The shared parent and its two workers.
    const php = await waitFor(() => { const t = descendants(pid); return t.length >= 3 ? t : null; });
    return { master: schedulingPolicy(pid), php: php.map((p) => schedulingPolicy(p)) };
  } finally {
    assert.equal(await d.stop(), 0, d.output());
  }
}

test('scheduling: this test runs under SCHED_OTHER (precondition)', () => {
  assert.equal(schedulingPolicy(), SCHED_OTHER);
});

test('scheduling: master and php-cgi children run under SCHED_BATCH', async () => {
  const p = await policies({});
  assert.equal(p.master, SCHED_BATCH);
  assert.ok(p.php.length >= 3);
  for (const x of p.php) assert.equal(x, SCHED_BATCH);
});

test('scheduling: TSFPM_SCHED=other keeps SCHED_OTHER for the whole tree', async () => {
  const p = await policies({ TSFPM_SCHED: 'other' });
  assert.equal(p.master, SCHED_OTHER);
  for (const x of p.php) assert.equal(x, SCHED_OTHER);
});
