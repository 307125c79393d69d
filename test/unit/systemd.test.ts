// systemd messages and php-fpm's heartbeat settings (fpm_systemd.c), without systemd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeat, statusMessage, SystemdNotifier } from '../../src/control/systemd.js';

test("heartbeat STATUS: php-fpm's line, traffic over the interval", () => {
  assert.equal(statusMessage({ active: 2, idle: 3, requests: 150, slow: 0 }, 100, 10_000, false),
    'READY=1\nSTATUS=Processes active: 2, idle: 3, Requests: 150, slow: 0, Traffic: 5.00req/sec');
  assert.equal(statusMessage({ active: 0, idle: 1, requests: 7, slow: 1 }, 0, 3000, true),
    'READY=1\nWATCHDOG=1\nSTATUS=Processes active: 0, idle: 1, Requests: 7, slow: 1, Traffic: 2.33req/sec');
});

test('heartbeat interval: systemd_interval, 0 disables, WatchdogSec wins at half its period', () => {
  assert.deepEqual(heartbeat(10, undefined), { intervalMs: 10_000, watchdog: false, lines: [{ level: 'notice', text: 'systemd monitor interval set to 10000ms' }] });
  assert.deepEqual(heartbeat(0, undefined).lines, [{ level: 'notice', text: 'systemd monitor disabled' }]);
  const w = heartbeat(10, '30000000');
  assert.equal(w.intervalMs, 15_000);
  assert.equal(w.watchdog, true);
  assert.deepEqual(w.lines.map((l) => l.text), ['WATCHDOG_USEC=30000000, interval=15000', 'systemd watchdog configured to 15sec', 'systemd monitor interval set to 15000ms']);
  assert.deepEqual(heartbeat(5, '3000000').lines.map((l) => l.text), ['WATCHDOG_USEC=3000000, interval=1500', 'systemd_interval option ignored', 'systemd watchdog configured to 1.5sec', 'systemd monitor interval set to 1500ms']);
  // Too short a watchdog (≤ 1 s at half): systemd_interval as configured.
  assert.equal(heartbeat(10, '2000000').intervalMs, 10_000);
});

test('no NOTIFY_SOCKET: no notifier', () => {
  assert.equal(SystemdNotifier.fromEnv({}, () => assert.fail('no error expected')), null);
  assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '' }, () => assert.fail('no error expected')), null);
});

test('a notifier whose tool cannot run reports it and goes on with the next message', async () => {
  const errors: string[] = [];
  const n = new SystemdNotifier('/nonexistent/systemd-notify', {}, (m) => errors.push(m));
  n.send('READY=1');
  n.send('STOPPING=1');
  await n.flush(2000);
  assert.equal(errors.length, 2);
  assert.match(errors[0], /^systemd-notify READY=1 failed: spawn \/nonexistent\/systemd-notify ENOENT$/);
});
