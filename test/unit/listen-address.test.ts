// Pure parsing of `listen` and `listen.allowed_clients` (reference §4, §9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ListenAddressError,
  isClientAllowed,
  parseAllowedClients,
  parseListen,
  workerDropLine,
  workerStartLines,
  type AllowedClients,
} from '../../src/net/address.js';

test('parseListen: ip:port', () => {
  assert.deepEqual(parseListen('127.0.0.1:9000', null), { kind: 'tcp', host: '127.0.0.1', port: 9000, text: '127.0.0.1:9000' });
  assert.deepEqual(parseListen('localhost:9001', '/opt'), { kind: 'tcp', host: 'localhost', port: 9001, text: 'localhost:9001' });
});

test('parseListen: bare port listens on all addresses', () => {
  assert.deepEqual(parseListen('9000', null), { kind: 'tcp', host: null, port: 9000, text: '9000' });
  assert.deepEqual(parseListen('*:9000', null), { kind: 'tcp', host: null, port: 9000, text: '*:9000' });
});

test('parseListen: bracketed IPv6', () => {
  assert.deepEqual(parseListen('[::1]:9000', null), { kind: 'tcp', host: '::1', port: 9000, text: '[::1]:9000' });
  const any = parseListen('[::]:9000', null);
  assert.equal(any.kind, 'tcp');
  assert.ok(any.kind === 'tcp' && (any.host === '::' || any.host === null), `host ${JSON.stringify(any)}`);
  assert.equal(any.kind === 'tcp' ? any.port : 0, 9000);
});

test('parseListen: absolute unix path, prefix ignored', () => {
  assert.deepEqual(parseListen('/run/x.sock', null), { kind: 'unix', path: '/run/x.sock', text: '/run/x.sock' });
  assert.deepEqual(parseListen('/run/x.sock', '/opt/fpm'), { kind: 'unix', path: '/run/x.sock', text: '/run/x.sock' });
});

test('parseListen: relative unix path is resolved against the prefix', () => {
  assert.deepEqual(parseListen('var/run/www.sock', '/opt/fpm'), { kind: 'unix', path: '/opt/fpm/var/run/www.sock', text: 'var/run/www.sock' });
  const noPrefix = parseListen('www.sock', null);
  assert.equal(noPrefix.kind, 'unix');
  assert.ok(noPrefix.kind === 'unix' && noPrefix.path.startsWith('/') && noPrefix.path.endsWith('/www.sock'), JSON.stringify(noPrefix));
});

test("parseListen: bad port gives php-fpm's `invalid port value '...'`", () => {
  for (const [listen, port] of [
    ['127.0.0.1:99999', '99999'],
    ['127.0.0.1:0', '0'],
    ['127.0.0.1:abc', 'abc'],
    ['127.0.0.1:', ''],
    ['127.0.0.1:90x', '90x'],
    ['[::1]:65536', '65536'],
    ['70000', '70000'],
    ['0', '0'],
  ] as const) {
    assert.throws(
      () => parseListen(listen, null),
      (e: unknown) => {
        assert.ok(e instanceof ListenAddressError, `${listen}: ${String(e)}`);
        assert.equal(e.message, `invalid port value '${port}'`, listen);
        return true;
      },
    );
  }
  // The bounds themselves are fine.
  assert.equal((parseListen('127.0.0.1:1', null) as { port: number }).port, 1);
  assert.equal((parseListen('65535', null) as { port: number }).port, 65535);
});

test('parseAllowedClients: unset or empty means no restriction', () => {
  assert.equal(parseAllowedClients(null), null);
  assert.equal(parseAllowedClients(''), null);
});

test('parseAllowedClients: valid IPv4 and IPv6 entries', () => {
  const a = parseAllowedClients('127.0.0.1,::1,10.0.0.7') as AllowedClients;
  assert.ok(a);
  assert.deepEqual(a.warnings, []);
  assert.equal(a.denyAll, false);
  assert.equal(isClientAllowed(a, '127.0.0.1'), true);
  assert.equal(isClientAllowed(a, '::1'), true);
  assert.equal(isClientAllowed(a, '10.0.0.7'), true);
  assert.equal(isClientAllowed(a, '10.0.0.8'), false);
  assert.equal(isClientAllowed(a, '127.0.0.2'), false);
  assert.equal(isClientAllowed(a, undefined), false);
});

test('isClientAllowed: IPv4 entries match v4-mapped IPv6 peers', () => {
  const a = parseAllowedClients('127.0.0.1') as AllowedClients;
  assert.equal(isClientAllowed(a, '::ffff:127.0.0.1'), true);
  assert.equal(isClientAllowed(a, '::FFFF:127.0.0.1'), true);
  assert.equal(isClientAllowed(a, '::ffff:127.0.0.2'), false);
  assert.equal(isClientAllowed(a, '::1'), false, '::1 is not 127.0.0.1');
});

test('isClientAllowed: IPv6 entries compare case-insensitively', () => {
  const a = parseAllowedClients('FE80::1') as AllowedClients;
  assert.equal(isClientAllowed(a, 'fe80::1'), true);
  assert.equal(isClientAllowed(a, 'fe80::2'), false);
});

test("parseAllowedClients: bad entries get php-fpm's message, good ones still count", () => {
  const a = parseAllowedClients('127.0.0.1,bogus, 10.0.0.1,10.0.0.0/8') as AllowedClients;
  assert.deepEqual(a.warnings, [
    "Wrong IP address 'bogus' in listen.allowed_clients",
    "Wrong IP address ' 10.0.0.1' in listen.allowed_clients", // no trimming, as in php-fpm
    "Wrong IP address '10.0.0.0/8' in listen.allowed_clients", // no CIDR
  ]);
  assert.equal(a.denyAll, false);
  assert.equal(isClientAllowed(a, '127.0.0.1'), true);
  assert.equal(isClientAllowed(a, '10.0.0.1'), false);
});

test('parseAllowedClients: no valid entry denies everyone', () => {
  const a = parseAllowedClients('any,localhost') as AllowedClients;
  assert.deepEqual(a.warnings, [
    "Wrong IP address 'any' in listen.allowed_clients",
    "Wrong IP address 'localhost' in listen.allowed_clients",
    'There are no allowed addresses',
  ]);
  assert.equal(a.denyAll, true);
  for (const peer of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) assert.equal(isClientAllowed(a, peer), false, peer);
});

// php-fpm compares binary addresses (inet_pton + memcmp in fcgi_is_allowed),
// so the spelling of an IPv6 entry does not matter; Node reports peers in
// canonical form.
test('isClientAllowed: non-canonical IPv6 entries match the canonical peer address', () => {
  const a = parseAllowedClients('0:0:0:0:0:0:0:1,FE80:0000::0001') as AllowedClients;
  assert.deepEqual(a.warnings, []);
  assert.equal(isClientAllowed(a, '::1'), true);
  assert.equal(isClientAllowed(a, 'fe80::1'), true);
});

// php-src socket-invalid-allowed-clients: php-fpm's workers print these on their stderr.
test('workerStartLines / workerDropLine: what a php-fpm worker writes for allowed_clients', () => {
  assert.deepEqual(workerStartLines(parseAllowedClients('xxx')), [
    "ERROR: Wrong IP address 'xxx' in listen.allowed_clients",
    'ERROR: There are no allowed addresses',
  ]);
  assert.deepEqual(workerStartLines(parseAllowedClients('127.0.0.1')), []);
  assert.deepEqual(workerStartLines(null), []);
  assert.equal(workerDropLine('127.0.0.1'), "ERROR: Connection disallowed: IP address '127.0.0.1' has been dropped.");
  assert.equal(workerDropLine('::ffff:127.0.0.1'), "ERROR: Connection disallowed: IP address '127.0.0.1' has been dropped.");
  assert.equal(workerDropLine('::1'), "ERROR: Connection disallowed: IP address '::1' has been dropped.");
});
