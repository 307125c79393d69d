// The pure decisions of a reload: which running socket a new `listen` keeps,
// php-fpm's log lines, and file:line for messages php-fpm words without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execvpLine, inheritedLine, locateListen, locateMessage, matchSocket, type RunningSocket } from '../../src/control/reload-plan.js';
import { parseListen } from '../../src/net/address.js';
import { parseConfig, type ConfigWhere } from '../../src/config/parse.js';
import type { GlobResult } from '../../src/config/glob.js';

const sock = (listen: string, key: string, fd: number): RunningSocket => ({ address: parseListen(listen, null), key, fd });
const running = [
  sock('127.0.0.1:9000', '127.0.0.1:9000', 19),
  sock('9001', ':::9001', 20),
  sock('/run/php/www.sock', '/run/php/www.sock', 21),
  sock('9002', '0.0.0.0:9002', 22),
];

test('matchSocket: the same address keeps the running socket', () => {
  assert.equal(matchSocket(parseListen('127.0.0.1:9000', null), '127.0.0.1', running)?.fd, 19);
  assert.equal(matchSocket(parseListen('/run/php/www.sock', null), null, running)?.fd, 21);
  assert.equal(matchSocket(parseListen('9001', null), null, running)?.fd, 20);
  // port-only that fell back to 0.0.0.0 is still the port-only socket
  assert.equal(matchSocket(parseListen('9002', null), null, running)?.fd, 22);
});

test('matchSocket: a host matches the address it resolves to', () => {
  assert.equal(matchSocket(parseListen('localhost:9000', null), '127.0.0.1', running)?.fd, 19);
  assert.equal(matchSocket(parseListen('[::]:9001', null), '::', running)?.fd, 20);
  assert.equal(matchSocket(parseListen('localhost:9000', null), null, running), null, 'unresolvable host');
});

test('matchSocket: another address, port or path is a new socket', () => {
  assert.equal(matchSocket(parseListen('127.0.0.2:9000', null), '127.0.0.2', running), null);
  assert.equal(matchSocket(parseListen('127.0.0.1:9009', null), '127.0.0.1', running), null);
  assert.equal(matchSocket(parseListen('/run/php/other.sock', null), null, running), null);
  // an explicit address is not the port-only socket (php-fpm's keys differ too)
  assert.equal(matchSocket(parseListen('127.0.0.1:9001', null), '127.0.0.1', running), null);
  assert.equal(matchSocket(parseListen('9000', null), null, running), null);
});

test("php-fpm's reload lines", () => {
  assert.equal(execvpLine(['/usr/sbin/tsfpm', '-y', '/etc/fpm.conf', '-F']),
    'reloading: execvp("/usr/sbin/tsfpm", {"/usr/sbin/tsfpm", "-y", "/etc/fpm.conf", "-F"})');
  // argv[0] and at most 10 arguments, as php-fpm's format string has room for
  const many = ['fpm', ...Array.from({ length: 12 }, (_, i) => `a${i}`)];
  assert.equal(execvpLine(many), `reloading: execvp("fpm", {"fpm", ${many.slice(1, 11).map((a) => `"${a}"`).join(', ')}})`);
  assert.equal(inheritedLine(running[1]), 'using inherited socket fd=20, ":::9001"');
});

function whereOf(files: Record<string, string>): ConfigWhere {
  const r = parseConfig('/etc/fpm.conf', {
    readFile: (p) => { if (files[p] === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); return files[p]; },
    glob: (pattern): GlobResult => ({ ok: true, paths: Object.keys(files).filter((f) => f.startsWith(pattern.replace('*.conf', ''))).sort() } as GlobResult),
    resolver: { lookup: () => undefined, constant: () => undefined },
    prefix: null,
  });
  assert.ok(r.ok, JSON.stringify(r.messages));
  return r.config.where;
}

const files = {
  '/etc/fpm.conf': '[global]\nerror_log = /var/log/fpm.log\nlog_limit = 100\ninclude = /etc/pool.d/*.conf\n',
  '/etc/pool.d/www.conf': '[www]\nuser = www-data\nlisten = 127.0.0.1:9000\nlisten.owner = nobodyx\npm = dynamic\npm.max_children = 0\npm.min_spare_servers = 3\n',
};

test('locateMessage: the line of the directive a validation message names', () => {
  const where = whereOf(files);
  assert.equal(locateMessage('[pool www] pm.max_children must be a positive value', where, '/etc/fpm.conf'), '/etc/pool.d/www.conf:6');
  assert.equal(locateMessage('[pool www] pm.min_spare_servers(3) and pm.max_spare_servers(0) cannot be greater than pm.max_children(0)', where, '/etc/fpm.conf'),
    '/etc/pool.d/www.conf:7');
  assert.equal(locateMessage('log_limit must be greater than 512', where, '/etc/fpm.conf'), '/etc/fpm.conf:3');
  // the quoted value points at listen.owner rather than user
  assert.equal(locateMessage("[pool www] cannot get uid for user 'nobodyx'", where, '/etc/fpm.conf'), '/etc/pool.d/www.conf:4');
  assert.equal(locateMessage("[pool www] cannot get uid for user 'www-data'", where, '/etc/fpm.conf'), '/etc/pool.d/www.conf:2');
  // nothing named: the pool's section, else the main file
  assert.equal(locateMessage('[pool www] the process manager is missing (static, dynamic or ondemand)', where, '/etc/fpm.conf'), '/etc/pool.d/www.conf:1');
  assert.equal(locateMessage('No pool defined. at least one pool section must be specified in config file', where, '/etc/fpm.conf'), '/etc/fpm.conf');
});

test('locateMessage: parse errors carry their own location', () => {
  assert.equal(locateMessage("[/etc/pool.d/www.conf:9] unknown entry 'bogus'", undefined, '/etc/fpm.conf'), '/etc/pool.d/www.conf:9');
  assert.equal(locateMessage('Unable to include /etc/pool.d/www.conf from /etc/fpm.conf at line 4', undefined, '/x'), '/etc/fpm.conf:4');
  assert.equal(locateMessage("failed to open configuration file '/etc/nope.conf'", undefined, '/x'), '/etc/nope.conf');
});

test('locateListen: the listen line (pm.status_listen for the hidden status pool)', () => {
  const where = whereOf({ ...files, '/etc/pool.d/www.conf': `${files['/etc/pool.d/www.conf']}pm.status_listen = 127.0.0.1:9100\n` });
  assert.equal(locateListen('www', where, '/etc/fpm.conf'), '/etc/pool.d/www.conf:3');
  assert.equal(locateListen('www_status', where, '/etc/fpm.conf'), '/etc/pool.d/www.conf:8');
  assert.equal(locateListen('gone', where, '/etc/fpm.conf'), '/etc/fpm.conf');
});
