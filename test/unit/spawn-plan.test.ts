// buildSpawnPlan: argv and environment of one php-cgi child (reference §10, issue 4 item 4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpawnPlan, wrapWithSetpriv, type InterpreterOptions } from '../../src/php/spawn-plan.js';
import { defaultPool } from '../../src/config/directives.js';
import type { PoolConfig } from '../../src/config/types.js';

const PHP: InterpreterOptions = { phpCgi: '/usr/bin/php-cgi', phpIni: null, noPhpIni: false, defines: [] };
const SHIM = '/run/tsfpm/www.prepend.php';

function pool(over: Partial<PoolConfig> = {}): PoolConfig {
  return { ...defaultPool('www'), listen: '/run/www.sock', pmMaxChildren: 2, ...over };
}

/** The values passed with -d, in order. */
function defines(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-d') out.push(args[++i]);
  }
  return out;
}

const MASTER_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  LANG: 'C.UTF-8',
  SHARED: 'from-master',
  PHP_FCGI_CHILDREN: '8',
  PHP_FCGI_MAX_REQUESTS: '500',
  TSFPM_INTERNAL: 'x',
};

test('spawn plan: command is the configured php-cgi', () => {
  const p = buildSpawnPlan(pool(), { ...PHP, phpCgi: '/opt/php/bin/php-cgi' }, SHIM, {});
  assert.equal(p.command, '/opt/php/bin/php-cgi');
});

test('spawn plan: PHP_FCGI_MAX_REQUESTS=0 always, PHP_FCGI_CHILDREN never', () => {
  const cases: Array<[string, PoolConfig]> = [
    ['clear_env yes', pool({ clearEnv: true })],
    ['clear_env no', pool({ clearEnv: false })],
    ['env[] sets both', pool({ clearEnv: false, env: { PHP_FCGI_MAX_REQUESTS: '500', PHP_FCGI_CHILDREN: '4' } })],
    ['env[] sets both, clear_env yes', pool({ clearEnv: true, env: { PHP_FCGI_MAX_REQUESTS: '10', PHP_FCGI_CHILDREN: '4' } })],
  ];
  for (const [label, cfg] of cases) {
    const p = buildSpawnPlan(cfg, PHP, SHIM, MASTER_ENV);
    assert.equal(p.env.PHP_FCGI_MAX_REQUESTS, '0', label);
    assert.equal('PHP_FCGI_CHILDREN' in p.env, false, label);
  }
});

test('spawn plan: clear_env yes keeps only env[] and USER/HOME', () => {
  const p = buildSpawnPlan(pool({ clearEnv: true, env: { APP_ENV: 'prod', PATH: '/custom' } }), PHP, SHIM, MASTER_ENV, { USER: 'www-data', HOME: '/var/www' });
  assert.deepEqual(p.env, { APP_ENV: 'prod', PATH: '/custom', USER: 'www-data', HOME: '/var/www', PHP_FCGI_MAX_REQUESTS: '0' });
  const bare = buildSpawnPlan(pool({ clearEnv: true }), PHP, SHIM, MASTER_ENV);
  assert.deepEqual(bare.env, { PHP_FCGI_MAX_REQUESTS: '0' }, 'no PATH from the master');
});

test('spawn plan: clear_env no passes the master environment, env[] wins', () => {
  const p = buildSpawnPlan(pool({ clearEnv: false, env: { SHARED: 'from-pool', EXTRA: '1' } }), PHP, SHIM, MASTER_ENV);
  assert.equal(p.env.PATH, '/usr/bin:/bin');
  assert.equal(p.env.LANG, 'C.UTF-8');
  assert.equal(p.env.SHARED, 'from-pool');
  assert.equal(p.env.EXTRA, '1');
  assert.equal('TSFPM_INTERNAL' in p.env, false, "tsfpm's own variables stay in the master");
  // The master's PHP_FCGI_MAX_REQUESTS=500 must not leak through.
  assert.equal(p.env.PHP_FCGI_MAX_REQUESTS, '0');
  // env[] may override USER/HOME too.
  const q = buildSpawnPlan(pool({ clearEnv: true, env: { HOME: '/srv' } }), PHP, SHIM, {}, { USER: 'www-data', HOME: '/var/www' });
  assert.equal(q.env.HOME, '/srv');
  assert.equal(q.env.USER, 'www-data');
});

test('spawn plan: -n, -c, -d order and pool ini values', () => {
  const p = buildSpawnPlan(
    pool({ phpValues: { memory_limit: '64M', 'error_log': '/var/log/php.log' }, phpAdminValues: { display_errors: '0' } }),
    { phpCgi: 'php-cgi', phpIni: '/etc/php/custom.ini', noPhpIni: true, defines: ['opcache.enable=0', 'foo=bar'] },
    SHIM,
    {},
  );
  assert.deepEqual(p.args, [
    '-n',
    '-c', '/etc/php/custom.ini',
    '-d', 'opcache.enable=0',
    '-d', 'foo=bar',
    '-d', 'memory_limit=64M',
    '-d', 'error_log=/var/log/php.log',
    '-d', 'display_errors=0',
    '-d', `auto_prepend_file=${SHIM}`,
  ]);
  const plain = buildSpawnPlan(pool(), PHP, SHIM, {});
  assert.deepEqual(plain.args, ['-d', `auto_prepend_file=${SHIM}`], 'no -n / -c unless asked');
});

test('spawn plan: php_admin_value wins over php_value for the same key', () => {
  const p = buildSpawnPlan(
    pool({ phpValues: { memory_limit: '64M', max_execution_time: '5' }, phpAdminValues: { memory_limit: '256M' } }),
    PHP, SHIM, {},
  );
  const d = defines(p.args);
  assert.ok(d.includes('memory_limit=256M'), d.join(' '));
  assert.equal(d.filter((x) => x.startsWith('memory_limit=')).length, 1, d.join(' '));
  assert.ok(d.includes('max_execution_time=5'));
  // Flags stored as '1'/'0' pass through verbatim.
  const f = buildSpawnPlan(pool({ phpAdminValues: { log_errors: '1' }, phpValues: { log_errors: '0' } }), PHP, SHIM, {});
  assert.deepEqual(defines(f.args).filter((x) => x.startsWith('log_errors=')), ['log_errors=1']);
});

test('spawn plan: a pool auto_prepend_file is handed to the shim, not to php-cgi', () => {
  for (const cfg of [
    pool({ phpValues: { auto_prepend_file: '/srv/pre.php' } }),
    pool({ phpAdminValues: { auto_prepend_file: '/srv/pre.php' } }),
  ]) {
    const d = defines(buildSpawnPlan(cfg, PHP, SHIM, {}).args);
    assert.deepEqual(d.filter((x) => x.startsWith('auto_prepend_file=')), [`auto_prepend_file=${SHIM}`]);
  }
  // A -d auto_prepend_file from the command line comes before the shim's, so the shim wins.
  const cli = defines(buildSpawnPlan(pool(), { ...PHP, defines: ['auto_prepend_file=/cli.php'] }, SHIM, {}).args);
  assert.equal(cli[cli.length - 1], `auto_prepend_file=${SHIM}`);
  // Without a shim the pool's value goes to php-cgi as is.
  const noShim = defines(buildSpawnPlan(pool({ phpValues: { auto_prepend_file: '/srv/pre.php' } }), PHP, null, {}).args);
  assert.deepEqual(noShim, ['auto_prepend_file=/srv/pre.php']);
});

test('spawn plan: the master environment object is not modified', () => {
  const env = { ...MASTER_ENV };
  buildSpawnPlan(pool({ clearEnv: false, env: { SHARED: 'x' } }), PHP, SHIM, env);
  assert.deepEqual(env, MASTER_ENV);
});

test('wrapWithSetpriv: parent-death signal always, credentials only when given', () => {
  const plan = { command: 'php-cgi', args: ['-d', 'x=1'], env: { A: 'b' } };
  const plain = wrapWithSetpriv(plan, '/usr/bin/setpriv', null);
  assert.equal(plain.command, '/usr/bin/setpriv');
  assert.deepEqual(plain.args, ['--pdeathsig', 'TERM', '--', 'php-cgi', '-d', 'x=1']);
  assert.deepEqual(plain.env, { A: 'b' });
  const dropped = wrapWithSetpriv(plan, '/usr/bin/setpriv', { uid: 33, gid: 34, name: 'www-data' });
  assert.deepEqual(dropped.args, ['--pdeathsig', 'TERM', '--reuid', '33', '--regid', '34', '--init-groups', '--', 'php-cgi', '-d', 'x=1']);
  // A numeric uid without a passwd entry: setpriv refuses --init-groups; php-fpm's
  // initgroups("4321", gid) leaves the gid alone (checked with php-fpm8.2), not the master's groups.
  const numeric = wrapWithSetpriv(plan, '/usr/bin/setpriv', { uid: 4321, gid: 0 });
  assert.deepEqual(numeric.args, ['--pdeathsig', 'TERM', '--reuid', '4321', '--regid', '0', '--groups', '0', '--', 'php-cgi', '-d', 'x=1']);
  // Groups resolved on the host (a chroot has no /etc/group).
  const listed = wrapWithSetpriv(plan, '/usr/bin/setpriv', { uid: 33, gid: 34, name: 'www-data', groups: [34, 50] });
  assert.deepEqual(listed.args, ['--pdeathsig', 'TERM', '--reuid', '33', '--regid', '34', '--groups', '34,50', '--', 'php-cgi', '-d', 'x=1']);
});
