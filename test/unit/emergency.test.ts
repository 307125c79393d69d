// emergency_restart_threshold/interval: php-fpm's ring of crash times (fpm_children_bury).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashWindow, isCrashSignal } from '../../src/pool/emergency.js';

test('off unless both directives are set', () => {
  assert.equal(CrashWindow.create(0, 10), null);
  assert.equal(CrashWindow.create(3, 0), null);
  assert.notEqual(CrashWindow.create(3, 10), null);
});

test('threshold crashes within the interval trigger; fewer never do', () => {
  const w = CrashWindow.create(3, 10)!;
  assert.equal(w.record(1_800_000_000), false);
  assert.equal(w.record(1_800_000_004), false);
  assert.equal(w.record(1_800_000_010), true);          // 10 s apart: within (php-fpm: not > interval)
  assert.equal(w.message(), 'failed processes threshold (3 in 10 sec) is reached, initiating reload');
});

test('the oldest of the last threshold crashes must be within the interval', () => {
  const w = CrashWindow.create(3, 10)!;
  const t = 1_800_000_000;
  w.record(t);
  w.record(t + 5);
  assert.equal(w.record(t + 11), false);        // the first is 11 s old
  assert.equal(w.record(t + 12), true);         // ring: t+5, t+11, t+12
});

test('reset: a restart starts counting again (php-fpm re-execs)', () => {
  const t = 1_800_000_000;
  const w = CrashWindow.create(2, 60)!;
  w.record(t + 1);
  assert.equal(w.record(t + 2), true);
  w.reset();
  assert.equal(w.record(t + 3), false);
  assert.equal(w.record(t + 3.9), true);             // whole seconds, as time(2)
});

test('only SIGSEGV and SIGBUS count', () => {
  assert.equal(isCrashSignal('SIGSEGV'), true);
  assert.equal(isCrashSignal('SIGBUS'), true);
  for (const s of ['SIGKILL', 'SIGTERM', 'SIGABRT'] as const) assert.equal(isCrashSignal(s), false);
  assert.equal(isCrashSignal(null), false);
});
