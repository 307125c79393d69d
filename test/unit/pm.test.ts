// The pure process-manager tick (reference §5, php-fpm's
// fpm_pctl_perform_idle_server_maintenance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tick, initialChildren, type PmSnapshot } from '../../src/pool/pm.js';

function snap(over: Partial<PmSnapshot>): PmSnapshot {
  return {
    style: 'dynamic', name: 'www', idle: 2, total: 2, maxChildren: 10, minSpare: 1, maxSpare: 3,
    maxSpawnRate: 32, spawnRate: 1, warnedMaxChildren: false, oldestIdleAgeMs: null, idleTimeoutMs: 10_000,
    ...over,
  };
}

const BUSY = /^\[pool www\] seems busy \(you may need to increase pm\.start_servers, or pm\.min\/max_spare_servers\), spawning (\d+) children, there are (\d+) idle, and (\d+) total children$/;

test('pm: dynamic in balance does nothing and resets the rate', () => {
  const d = tick(snap({ idle: 2, total: 5, minSpare: 1, maxSpare: 3, spawnRate: 16, warnedMaxChildren: true }));
  assert.deepEqual(d, { killOldestIdle: false, spawn: 0, spawnRate: 1, warnedMaxChildren: false, maxChildrenReached: false, warnings: [] });
});

test('pm: dynamic grows by min(rate, min_spare - idle, max - total) and doubles the rate', () => {
  // rate is the limit
  let d = tick(snap({ idle: 0, total: 2, minSpare: 5, maxSpare: 10, maxChildren: 20, spawnRate: 1 }));
  assert.equal(d.spawn, 1);
  assert.equal(d.spawnRate, 2);
  assert.equal(d.killOldestIdle, false);
  assert.deepEqual(d.warnings, []);
  d = tick(snap({ idle: 0, total: 3, minSpare: 5, maxSpare: 10, maxChildren: 20, spawnRate: 2 }));
  assert.equal(d.spawn, 2);
  assert.equal(d.spawnRate, 4);
  // min_spare - idle is the limit
  d = tick(snap({ idle: 3, total: 6, minSpare: 5, maxSpare: 10, maxChildren: 20, spawnRate: 4 }));
  assert.equal(d.spawn, 2);
  assert.equal(d.spawnRate, 8);
  // max_children - total is the limit
  d = tick(snap({ idle: 0, total: 18, minSpare: 10, maxSpare: 12, maxChildren: 20, spawnRate: 4 }));
  assert.equal(d.spawn, 2);
  assert.equal(d.spawnRate, 8);
});

test('pm: min_spare=1 grows by at most one child per tick', () => {
  let rate = 1;
  for (let i = 0; i < 5; i++) {
    const d = tick(snap({ idle: 0, total: 1 + i, minSpare: 1, maxSpare: 3, maxChildren: 10, spawnRate: rate }));
    assert.equal(d.spawn, 1, `tick ${i}`);
    rate = d.spawnRate;
  }
  assert.equal(rate, 32);
});

test('pm: rate doubles up to pm.max_spawn_rate, never past it', () => {
  const rates: number[] = [];
  let rate = 1;
  for (let i = 0; i < 6; i++) {
    const d = tick(snap({ idle: 0, total: 1, minSpare: 100, maxSpare: 200, maxChildren: 1000, maxSpawnRate: 10, spawnRate: rate }));
    assert.equal(d.spawn, rate, `spawns the current rate at tick ${i}`);
    rate = d.spawnRate;
    rates.push(rate);
  }
  assert.deepEqual(rates, [2, 4, 8, 10, 10, 10]);
});

test('pm: "seems busy" warning exactly when the rate is >= 8', () => {
  for (const rate of [1, 2, 4, 7]) {
    const d = tick(snap({ idle: 1, total: 4, minSpare: 20, maxSpare: 30, maxChildren: 100, spawnRate: rate }));
    assert.deepEqual(d.warnings, [], `rate ${rate}`);
  }
  const d = tick(snap({ idle: 1, total: 4, minSpare: 20, maxSpare: 30, maxChildren: 100, spawnRate: 8 }));
  assert.equal(d.warnings.length, 1);
  const m = BUSY.exec(d.warnings[0]);
  assert.ok(m, d.warnings[0]);
  assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[3])], [8, 1, 4]);
  assert.equal(d.spawn, 8);
  assert.equal(d.spawnRate, 16);
  // The number in the warning is the number actually spawned (capped by max_children).
  const d2 = tick(snap({ idle: 0, total: 97, minSpare: 20, maxSpare: 30, maxChildren: 100, spawnRate: 16 }));
  assert.equal(d2.spawn, 3);
  assert.match(d2.warnings[0], /spawning 3 children, there are 0 idle, and 97 total children$/);
});

test('pm: max_children reached: one warning per episode, rate reset, counter', () => {
  const msg = '[pool www] server reached pm.max_children setting (4), consider raising it';
  let d = tick(snap({ idle: 0, total: 4, minSpare: 1, maxSpare: 3, maxChildren: 4, spawnRate: 8 }));
  assert.deepEqual(d.warnings, [msg]);
  assert.equal(d.maxChildrenReached, true);
  assert.equal(d.warnedMaxChildren, true);
  assert.equal(d.spawn, 0);
  assert.equal(d.spawnRate, 1);
  // Same episode: silent, not counted again.
  d = tick(snap({ idle: 0, total: 4, minSpare: 1, maxSpare: 3, maxChildren: 4, warnedMaxChildren: d.warnedMaxChildren }));
  assert.deepEqual(d.warnings, []);
  assert.equal(d.maxChildrenReached, false);
  assert.equal(d.warnedMaxChildren, true);
  // An idle child ends the episode ...
  d = tick(snap({ idle: 1, total: 4, minSpare: 1, maxSpare: 3, maxChildren: 4, warnedMaxChildren: d.warnedMaxChildren }));
  assert.equal(d.warnedMaxChildren, false);
  // ... so the next shortage warns again.
  d = tick(snap({ idle: 0, total: 4, minSpare: 1, maxSpare: 3, maxChildren: 4, warnedMaxChildren: d.warnedMaxChildren }));
  assert.deepEqual(d.warnings, [msg]);
  assert.equal(d.maxChildrenReached, true);
  // Pool name and limit come from the snapshot.
  d = tick(snap({ name: 'api', idle: 0, total: 7, minSpare: 2, maxChildren: 7 }));
  assert.deepEqual(d.warnings, ['[pool api] server reached pm.max_children setting (7), consider raising it']);
});

test('pm: more idle than max_spare kills the oldest idle child, one per tick', () => {
  const d = tick(snap({ idle: 6, total: 8, minSpare: 1, maxSpare: 3, spawnRate: 4 }));
  assert.equal(d.killOldestIdle, true);
  assert.equal(d.spawn, 0);
  assert.equal(d.spawnRate, 1);
  assert.deepEqual(d.warnings, []);
  // idle == max_spare: nothing to kill.
  assert.equal(tick(snap({ idle: 3, total: 8, minSpare: 1, maxSpare: 3 })).killOldestIdle, false);
});

test('pm: ondemand kills the oldest idle child only after pm.process_idle_timeout', () => {
  const base = { style: 'ondemand' as const, idle: 2, total: 2, minSpare: 0, maxSpare: 0, idleTimeoutMs: 10_000 };
  assert.equal(tick(snap({ ...base, oldestIdleAgeMs: null })).killOldestIdle, false);
  assert.equal(tick(snap({ ...base, oldestIdleAgeMs: 9_999 })).killOldestIdle, false);
  assert.equal(tick(snap({ ...base, oldestIdleAgeMs: 10_000 })).killOldestIdle, false);
  const d = tick(snap({ ...base, oldestIdleAgeMs: 10_001 }));
  assert.equal(d.killOldestIdle, true);
  assert.equal(d.spawn, 0, 'ondemand never spawns from the tick');
  // Never spawns, never warns, even with no idle child at max_children.
  const d2 = tick(snap({ ...base, idle: 0, total: 5, maxChildren: 5, oldestIdleAgeMs: null }));
  assert.deepEqual([d2.spawn, d2.killOldestIdle, d2.warnings], [0, false, []]);
});

test('pm: static does nothing', () => {
  for (const s of [
    snap({ style: 'static', idle: 0, total: 1, minSpare: 5, maxChildren: 10, spawnRate: 8 }),
    snap({ style: 'static', idle: 10, total: 10, minSpare: 1, maxSpare: 2, maxChildren: 10 }),
    snap({ style: 'static', idle: 0, total: 10, minSpare: 1, maxChildren: 10, oldestIdleAgeMs: 1e9, idleTimeoutMs: 1 }),
  ]) {
    const d = tick(s);
    assert.deepEqual(
      d,
      { killOldestIdle: false, spawn: 0, spawnRate: s.spawnRate, warnedMaxChildren: s.warnedMaxChildren, maxChildrenReached: false, warnings: [] },
    );
  }
});

test('pm: initialChildren', () => {
  assert.equal(initialChildren('static', 5, 2), 5);
  assert.equal(initialChildren('dynamic', 5, 2), 2);
  assert.equal(initialChildren('ondemand', 5, 2), 0);
});
