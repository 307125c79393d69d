import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseValue, POOL_BY_NAME, GLOBAL_BY_NAME } from '../../src/config/directives.js';

const ok = (t: Parameters<typeof parseValue>[0], v: string): unknown => {
  const r = parseValue(t, v);
  assert.ok(r.ok, `${t} ${v}`);
  return r.ok ? r.value : undefined;
};
const bad = (t: Parameters<typeof parseValue>[0], v: string): string => {
  const r = parseValue(t, v);
  assert.ok(!r.ok, `${t} ${v} should fail`);
  return r.ok ? '' : r.reason;
};

test('int: atoi with optional minus, empty is 0', () => {
  assert.equal(ok('int', '5'), 5);
  assert.equal(ok('int', '-5'), -5);
  assert.equal(ok('int', ''), 0);
  for (const v of ['0x10', '2.5', ' 3', 'abc', '2 3']) assert.equal(bad('int', v), 'is not a valid number (greater or equal than zero)');
});

test('time: suffixes s m h d, atoi of the rest', () => {
  assert.equal(ok('time', '10'), 10);
  assert.equal(ok('time', '10s'), 10);
  assert.equal(ok('time', '2m'), 120);
  assert.equal(ok('time', '1h'), 3600);
  assert.equal(ok('time', '1d'), 86400);
  assert.equal(ok('time', '1.5m'), 60);
  assert.equal(ok('time', '5ms'), 5);
  assert.equal(ok('time', '10 s'), 10);
  assert.equal(ok('time', '-5'), -5);
  assert.equal(bad('time', '5x'), 'unknown suffix used in time value');
  assert.equal(bad('time', '5M'), 'unknown suffix used in time value');
  assert.equal(bad('time', ''), 'invalid time value');
});

test('bool: 8.2 words, quoted values case-sensitive', () => {
  for (const v of ['1', 'yes', 'on', 'true']) assert.equal(ok('bool', v), true);
  for (const v of ['', '0', 'no', 'off', 'none', 'false']) assert.equal(ok('bool', v), false);
  for (const v of ['2', 'ON', 'Yes', 'maybe']) assert.equal(bad('bool', v), 'invalid boolean value');
});

test('rlimit, log_level, pm, syslog.facility, mechanism, extensions', () => {
  assert.equal(ok('rlimit', 'unlimited'), -1);
  assert.equal(ok('rlimit', '1024'), 1024);
  assert.equal(bad('rlimit', '-1'), "must be greater than zero or 'unlimited'");
  assert.equal(ok('loglevel', 'WARN'), 'warning');
  assert.equal(bad('loglevel', 'verbose'), "invalid value for 'log_level'");
  assert.equal(ok('pm', 'STATIC'), 'static');
  assert.equal(bad('pm', 'foo'), 'invalid process manager (static, dynamic or ondemand)');
  assert.equal(ok('facility', 'local3'), 'LOCAL3');
  assert.equal(bad('facility', 'foo'), 'invalid value');
  assert.equal(ok('mechanism', 'POLL'), 'poll');
  assert.deepEqual(ok('extensions', '.php  .php3\t.php7'), ['.php', '.php3', '.php7']);
  assert.deepEqual(ok('extensions', ''), []);
});

test('the table knows every directive of reference sections 3 and 4', () => {
  for (const n of ['pid', 'error_log', 'syslog.ident', 'syslog.facility', 'log_level', 'log_limit', 'log_buffering',
    'emergency_restart_threshold', 'emergency_restart_interval', 'process_control_timeout', 'process.max',
    'process.priority', 'daemonize', 'rlimit_files', 'rlimit_core', 'events.mechanism', 'systemd_interval']) {
    assert.ok(GLOBAL_BY_NAME.has(n), n);
  }
  for (const n of ['prefix', 'user', 'group', 'listen', 'listen.backlog', 'listen.owner', 'listen.group', 'listen.mode',
    'listen.acl_users', 'listen.acl_groups', 'listen.allowed_clients', 'process.priority', 'process.dumpable', 'pm',
    'pm.max_children', 'pm.start_servers', 'pm.min_spare_servers', 'pm.max_spare_servers', 'pm.max_spawn_rate',
    'pm.process_idle_timeout', 'pm.max_requests', 'pm.status_path', 'pm.status_listen', 'ping.path', 'ping.response',
    'access.log', 'access.format', 'slowlog', 'request_slowlog_timeout', 'request_slowlog_trace_depth',
    'request_terminate_timeout', 'request_terminate_timeout_track_finished', 'rlimit_files', 'rlimit_core', 'chroot',
    'chdir', 'catch_workers_output', 'decorate_workers_output', 'clear_env', 'security.limit_extensions', 'apparmor_hat']) {
    assert.ok(POOL_BY_NAME.has(n), n);
  }
});
