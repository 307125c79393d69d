import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse.js';
import { envResolver } from '../../src/config/ini-line.js';
import { validateConfig, type ValidateHost, type ValidateResult } from '../../src/config/validate.js';
import { dumpConfig } from '../../src/config/dump.js';

const DIRS = new Set(['/', '/tmp', '/srv', '/srv/jail', '/srv/jail/www', '/usr']);
const users: Record<string, { uid: number; gid: number }> = { 'www-data': { uid: 33, gid: 33 }, root: { uid: 0, gid: 0 } };
function run(text: string, h: Partial<ValidateHost> = {}): ValidateResult {
  const parsed = parseConfig('/c', { readFile: () => text, glob: () => ({ ok: false, ret: 3 }), resolver: envResolver({}), prefix: h.prefix ?? null });
  assert.ok(parsed.ok, JSON.stringify(parsed.messages));
  return validateConfig(parsed.config, '/c', {
    prefix: null, euid: 0, allowRoot: false, test: true, isDir: (p) => DIRS.has(p.replace(/\/+/g, '/')), touchAppend: () => {},
    lookupUser: (n) => users[n] ?? null, lookupGroup: (n) => (n === 'www-data' ? 33 : n === 'root' ? 0 : null), ...h,
  });
}
const texts = (r: ValidateResult): string[] => r.messages.map((m) => `${m.level}: ${m.text}`);
const base = (extra: string, pm = 'static'): string => `[www]\nuser = www-data\nlisten = 9000\npm = ${pm}\npm.max_children = 5\n${extra}`;

test('stock-like dynamic pool validates; pm.start_servers default and its NOTICE', () => {
  const r = run(base('pm.min_spare_servers = 1\npm.max_spare_servers = 4\n', 'dynamic'));
  assert.ok(r.ok);
  assert.deepEqual(texts(r), ["notice: [pool www] pm.start_servers is not set. It's been set to 2."]);
  assert.equal(r.config.pools[0].pmStartServers, 2);
  assert.equal(r.config.global.errorLog, '/var/log/php-fpm.log');
});

test('pm.* consistency', () => {
  const alert = (extra: string, pm = 'dynamic'): string[] => texts(run(base(extra, pm)));
  assert.deepEqual(alert('pm.min_spare_servers = 4\npm.max_spare_servers = 2\n'), ['alert: [pool www] pm.max_spare_servers(2) must not be less than pm.min_spare_servers(4)']);
  assert.deepEqual(alert(''), ['alert: [pool www] pm.min_spare_servers(0) must be a positive value']);
  assert.deepEqual(alert('pm.min_spare_servers = 1\npm.max_spare_servers = 9\n'), ['alert: [pool www] pm.min_spare_servers(1) and pm.max_spare_servers(9) cannot be greater than pm.max_children(5)']);
  assert.deepEqual(alert('pm.min_spare_servers = 2\npm.max_spare_servers = 3\npm.start_servers = 5\n'), ['alert: [pool www] pm.start_servers(5) must not be less than pm.min_spare_servers(2) and not greater than pm.max_spare_servers(3)']);
  assert.deepEqual(alert('pm.min_spare_servers = 2\npm.max_spare_servers = 3\npm.start_servers = 2\npm.max_spawn_rate = 0\n'), ['alert: [pool www] pm.max_spawn_rate must be a positive value']);
  assert.deepEqual(alert('pm.process_idle_timeout = 0\n', 'ondemand'), ['alert: [pool www] pm.process_idle_timeout(0s) must be greater than 0s']);
  assert.deepEqual(texts(run('[www]\nuser = www-data\nlisten = 9000\npm = static\npm.max_children = -5\n')), ['alert: [pool www] pm.max_children must be a positive value']);
  assert.deepEqual(texts(run('[www]\nuser = www-data\nlisten = 9000\npm.max_children = 1\n')), ['alert: [pool www] the process manager is missing (static, dynamic or ondemand)']);
  assert.deepEqual(texts(run('[www]\nuser = www-data\npm = static\n')), ['alert: [pool www] no listen address have been defined!']);
});

test('status and ping paths, ping.response, status_listen hidden pool', () => {
  const e = (x: string): string[] => texts(run(base(x)));
  assert.deepEqual(e('pm.status_path = x\n'), ["error: [pool www] the status path 'x' must start with a '/'"]);
  assert.deepEqual(e('pm.status_path = /\n'), ["error: [pool www] the status path '/' is not long enough"]);
  assert.deepEqual(e('pm.status_path = /a?b\n'), ["error: [pool www] the status path '/a?b' must contain only the following characters '[alphanum]/_-.~'"]);
  assert.deepEqual(e('ping.path = /\n'), ["error: [pool www] the ping path '/' is not long enough"]);
  const r = run(base('ping.path = /ping\npm.status_listen = 127.0.0.1:9100\n'));
  assert.ok(r.ok);
  assert.equal(r.config.pools[0].pingResponse, 'pong');
  assert.equal(r.config.pools[0].pmStatusPath, '/');
  assert.equal(r.config.pools[1].name, 'www_status');
  assert.equal(r.config.pools[1].hidden, true);
  assert.equal(r.config.pools[1].listen, '127.0.0.1:9100');
  assert.ok(!dumpConfig(r.config).includes('[www_status]'));
  const noPing = run(base('ping.response = hi\n'));
  assert.ok(noPing.ok && noPing.config.pools[0].pingResponse === null);
});

test('slowlog, chroot and chdir rules; relative paths get the prefix', () => {
  const e = (x: string): string[] => texts(run(base(x)));
  assert.deepEqual(e('request_slowlog_timeout = 5\n'), ["error: [pool www] 'slowlog' must be specified for use with 'request_slowlog_timeout'"]);
  // As php-fpm8.2 -t: a depth of 0 means the default, a negative one is refused, any depth needs a slowlog.
  const zero = run(base('slowlog = /tmp/s\nrequest_slowlog_timeout = 5\nrequest_slowlog_trace_depth = 0\n'));
  assert.ok(zero.ok && zero.config.pools[0].requestSlowlogTraceDepth === 20);
  const none = run(base(''));
  assert.ok(none.ok && none.config.pools[0].requestSlowlogTraceDepth === 20);
  assert.deepEqual(e('slowlog = /tmp/s\nrequest_slowlog_trace_depth = -3\n'), ["error: [pool www] 'request_slowlog_trace_depth' (-3) must be a positive value"]);
  assert.deepEqual(e('request_slowlog_trace_depth = 5\n'), ["error: [pool www] 'slowlog' must be specified for use with 'request_slowlog_trace_depth'"]);
  assert.deepEqual(e('slowlog = /tmp/s\nrequest_slowlog_timeout = 50\nrequest_terminate_timeout = 10\n'), ["error: [pool www] 'request_slowlog_timeout' (50) can't be greater than 'request_terminate_timeout' (10)"]);
  assert.deepEqual(e('chroot = /nonexistent\n'), ["error: [pool www] the chroot path '/nonexistent' does not exist or is not a directory"]);
  assert.deepEqual(e('chroot = rel\n'), ["error: [pool www] the chroot path '/usr/rel' does not exist or is not a directory"]);
  assert.deepEqual(e('chdir = /nope\n'), ["error: [pool www] the chdir path '/nope' does not exist or is not a directory"]);
  assert.deepEqual(e('chroot = /srv/jail\nchdir = /nope\n'), ["error: [pool www] the chdir path '/nope' within the chroot path '/srv/jail' ('/srv/jail/nope') does not exist or is not a directory"]);
  assert.deepEqual(e('prefix = /nonexist\n'), ["error: [pool www] the prefix '/nonexist' does not exist or is not a directory"]);
  assert.deepEqual(e('process.priority = 30\n'), ['error: [pool www] process.priority must be included into [-19,20]']);
  const r = run(base('prefix = /srv\naccess.log = a.log\nphp_value[error_log] = e.log\nchroot = $prefix/jail\nchdir = /www\n').replace('listen = 9000', 'listen = www.sock'));
  assert.ok(r.ok, JSON.stringify(r.messages));
  const p = r.config.pools[0];
  assert.equal(p.listen, '/srv/www.sock');
  assert.equal(p.accessLog, '/srv/a.log');
  assert.equal(p.accessFormat, '%R - %u %t "%m %r" %s');
  assert.equal(p.chroot, '/srv//jail');
  assert.equal(p.phpValues.error_log, 'e.log');            // chrooted: left alone
  const r2 = run(base('php_value[error_log] = e.log\nphp_value[x] = rel\n'), { prefix: '/srv' });
  assert.ok(r2.ok);
  assert.deepEqual(r2.config.pools[0].phpValues, { error_log: '/srv/e.log', x: 'rel' });
  assert.equal(r2.config.global.errorLog, '/srv/log/php-fpm.log');
});

test('global rules', () => {
  assert.deepEqual(texts(run('[global]\nlog_limit = 100\n')), ['error: log_limit must be greater than 512']);
  assert.deepEqual(texts(run('[global]\nprocess.max = -1\n')), ["error: process_max can't be negative"]);
  assert.deepEqual(texts(run('[global]\nevents.mechanism = kqueue\n')), ["error: event mechanism 'kqueue' is not available on this system"]);
  assert.deepEqual(texts(run('[global]\n')), ['error: No pool defined. at least one pool section must be specified in config file']);
  assert.deepEqual(texts(run('[a]\nuser=www-data\nlisten = 9000\npm = static\npm.max_children = 1\n[b]\nuser=www-data\nlisten = 9000\npm = static\npm.max_children = 1\n')),
    ["error: [pool b] unable to set listen address as it's already used in another pool 'a'"]);
  const r = run('[global]\nlog_limit = 100\n');
  assert.ok(!r.ok && r.stage === 'post');
});

test('root rules: user required unless -R, unknown users, uid/gid 0 refused outside -t', () => {
  const noUser = '[www]\nlisten = 9000\npm = static\npm.max_children = 1\n';
  assert.deepEqual(texts(run(noUser)), ['alert: [pool www] user has not been defined']);
  assert.ok(run(noUser, { allowRoot: true }).ok);
  const unknown = run(base('').replace('www-data', 'nosuchuser'));
  assert.deepEqual(texts(unknown), ["error: [pool www] cannot get uid for user 'nosuchuser'"]);
  assert.ok(!unknown.ok && unknown.stage === 'init');
  assert.deepEqual(texts(run(base('group = nosuchgrp\n'))), ["error: [pool www] cannot get gid for group 'nosuchgrp'"]);
  const rootUser = base('').replace('www-data', 'root');
  assert.ok(run(rootUser).ok);                                 // -t does not catch it
  assert.deepEqual(texts(run(rootUser, { test: false })), ['error: [pool www] please specify user and group other than root']);
  assert.ok(run(rootUser, { test: false, allowRoot: true }).ok);
  assert.deepEqual(texts(run(base('group = root\n'), { test: false })), ['error: [pool www] please specify user and group other than root']);
});

test("not root: a NOTICE (php-fpm's level) for each directive only root can apply, at start only, not under -t", () => {
  const all = base('group = www-data\nchroot = /srv/jail\nprocess.priority = 5\n');
  assert.deepEqual(texts(run(all, { euid: 1000, test: false })), [
    "notice: [pool www] 'user' directive is ignored when FPM is not running as root",
    "notice: [pool www] 'group' directive is ignored when FPM is not running as root",
    "notice: [pool www] 'chroot' directive is ignored when FPM is not running as root",
    "notice: [pool www] 'process.priority' directive is ignored when FPM is not running as root",
  ]);
  assert.deepEqual(texts(run(all, { euid: 1000, test: true })), []);
  // The hidden status pool gets user and group from its pool, not chroot or process.priority (as php-fpm's).
  const status = run(base('process.priority = 5\npm.status_listen = 127.0.0.1:9001\n'), { euid: 1000, test: false });
  assert.deepEqual(texts(status), [
    "notice: [pool www] 'user' directive is ignored when FPM is not running as root",
    "notice: [pool www] 'process.priority' directive is ignored when FPM is not running as root",
    "notice: [pool www_status] 'user' directive is ignored when FPM is not running as root",
  ]);
});

test('-t resolves user, group, listen.owner and listen.group names, root or not; digits need no entry', () => {
  for (const euid of [0, 1000]) {
    const user = run(base('').replace('www-data', 'nosuchuser'), { euid });
    assert.deepEqual(texts(user), ["error: [pool www] cannot get uid for user 'nosuchuser'"]);
    assert.ok(!user.ok && user.stage === 'init');
    assert.equal(user.messages[0].syserr, undefined);
    // php-fpm: ZLOG_SYSERROR after getpwnam()/getgrnam(), errno 0 -> `: Success (0)`
    const owner = run(base('listen.owner = aaaaaa\n'), { euid });
    assert.deepEqual(texts(owner), ["error: [pool www] cannot get uid for user 'aaaaaa'"]);
    assert.equal(owner.messages[0].syserr?.errno, 0);
    const group = run(base('listen.group = aaaaaa\n'), { euid });
    assert.deepEqual(texts(group), ["error: [pool www] cannot get gid for group 'aaaaaa'"]);
    assert.equal(group.messages[0].syserr?.errno, 0);
    assert.ok(!group.ok && group.stage === 'init');
    assert.ok(run(base('listen.owner = 1234\nlisten.group = 1235\ngroup = 1236\n').replace('www-data', '1234'), { euid }).ok);
  }
  // A real start leaves listen.owner/listen.group to the socket (net/listener.ts).
  assert.ok(run(base('listen.owner = aaaaaa\nlisten.group = aaaaaa\n'), { test: false }).ok);
});

test('numeric user without a passwd entry: that uid with gid 0, so -R or a group is needed (php-fpm)', () => {
  const numeric = base('').replace('www-data', '1234');
  assert.deepEqual(texts(run(numeric, { test: false })), ['error: [pool www] please specify user and group other than root']);
  assert.ok(run(numeric, { test: false, allowRoot: true }).ok);
  assert.ok(run(numeric + 'group = 1235\n', { test: false }).ok);
  // A numeric user with an entry takes its primary group.
  assert.ok(run(base('').replace('www-data', '33'), { test: false, lookupUser: (n) => (n === '33' ? { uid: 33, gid: 33 } : null) }).ok);
});

test('log switch points: log_level applies from levelAt, error_log from openAt (before the pool messages)', () => {
  const r = run(base('pm.min_spare_servers = 1\npm.max_spare_servers = 4\n', 'dynamic'));
  assert.ok(r.ok);
  assert.equal(r.levelAt, 0);
  assert.equal(r.openAt, 0);
  assert.match(r.messages[r.openAt].text, /pm\.start_servers is not set/);
  const bad = run('[global]\nlog_limit = 100\n');
  assert.equal(bad.levelAt, 0);
  assert.equal(bad.openAt, undefined);
});

test('-tt dump: formats, undefined, arrays newest first', () => {
  const r = run(base('env[A] = 1\nenv[B] = 2\nphp_flag[x] = on\nphp_value[x] = 5\naccess.suppress_path[] = /ping\n'));
  assert.ok(r.ok);
  const d = dumpConfig(r.config);
  assert.equal(d[0], '[global]');
  assert.ok(d.includes('\tlog_level = unknown value'));
  assert.ok(d.includes('\tsyslog.facility = 24'));
  assert.ok(d.includes('\tevents.mechanism = epoll'));
  assert.ok(d.includes('\temergency_restart_interval = 0s'));
  assert.ok(d.includes('\tpm.process_idle_timeout = 10'));
  assert.ok(d.includes('\tprefix = undefined'));
  assert.ok(d.includes('\tclear_env = yes'));
  assert.ok(d.includes('\tsecurity.limit_extensions = .php .phar'));
  assert.ok(d.includes('\taccess.suppress_path[] = /ping'));
  const tail = d.slice(d.indexOf('\tsecurity.limit_extensions = .php .phar') + 1);
  assert.deepEqual(tail, ['\tenv[B] = 2', '\tenv[A] = 1', '\tphp_value[x] = 5', '\tphp_value[x] = 1', ' ']);
});
