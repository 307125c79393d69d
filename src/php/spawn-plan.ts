// Pure: what to exec for one php-cgi child of a pool (argv and environment).
// php-cgi ignores PHP_VALUE params, so pool php_value/php_admin_value become
// -d switches; php-cgi quits after 500 requests unless PHP_FCGI_MAX_REQUESTS=0
// (tsfpm enforces pm.max_requests itself), and PHP_FCGI_CHILDREN would turn
// the child into a forking manager of its own.
import type { PoolConfig } from '../config/types.js';
import { resolveEnvValue } from '../config/load.js';

export interface InterpreterOptions {
  phpCgi: string;
  phpIni: string | null;
  noPhpIni: boolean;
  defines: string[];          // 'k=v' from -d
  scanDir?: string | null;    // PHP_INI_SCAN_DIR for the children (php-fpm's conf.d)
}

export interface SpawnPlan {
  command: string;
  args: string[];
  env: Record<string, string>;
}

// Environment variables of the master that must never reach a child.
const STRIPPED_ENV = new Set(['PHP_FCGI_CHILDREN', 'PHP_FCGI_MAX_REQUESTS', 'FCGI_WEB_SERVER_ADDRS']);

export function buildSpawnPlan(
  pool: PoolConfig,
  php: InterpreterOptions,
  shimPath: string | null,
  masterEnv: NodeJS.ProcessEnv,
  userEnv: { USER?: string; HOME?: string } = {},
): SpawnPlan {
  const args: string[] = [];
  if (php.noPhpIni) args.push('-n');
  if (php.phpIni !== null) args.push('-c', php.phpIni);
  for (const d of php.defines) args.push('-d', d);
  // php_admin_value wins over php_value for the same key, as in php-fpm.
  const ini: Record<string, string> = { ...pool.phpValues, ...pool.phpAdminValues };
  for (const [k, v] of Object.entries(ini)) {
    if (k === 'auto_prepend_file' && shimPath !== null) continue; // the shim requires it itself
    args.push('-d', `${k}=${v}`);
  }
  if (shimPath !== null) args.push('-d', `auto_prepend_file=${shimPath}`);

  const env: Record<string, string> = {};
  if (!pool.clearEnv) {
    for (const [k, v] of Object.entries(masterEnv)) {
      if (v !== undefined && !STRIPPED_ENV.has(k) && !k.startsWith('TSFPM_')) env[k] = v;
    }
  }
  if (userEnv.USER !== undefined) env.USER = userEnv.USER;
  if (userEnv.HOME !== undefined) env.HOME = userEnv.HOME;
  // env[X] = $VAR takes the master's variable at startup, as in php-fpm.
  for (const [k, v] of Object.entries(pool.env)) env[k] = resolveEnvValue(v, masterEnv);
  if (php.scanDir !== null && php.scanDir !== undefined) env.PHP_INI_SCAN_DIR = php.scanDir;
  env.PHP_FCGI_MAX_REQUESTS = '0';
  delete env.PHP_FCGI_CHILDREN;
  return { command: php.phpCgi, args, env };
}

/**
 * `name` is absent for a numeric uid without a passwd entry; `groups`, when
 * set, is the supplementary list resolved on the host (a jail has no /etc/group).
 */
export interface Credentials { uid: number; gid: number; name?: string; groups?: number[] }

/**
 * Runs the plan through util-linux's setpriv: the child gets SIGTERM (php-cgi's
 * graceful stop) when the master dies, since php-cgi sets no parent-death
 * signal itself and would otherwise live on orphaned; and, as root with a pool
 * `user`, it drops to that uid/gid keeping the user's supplementary groups
 * (libuv's uid/gid spawn drops them all).
 */
export function wrapWithSetpriv(plan: SpawnPlan, setpriv: string, creds: Credentials | null): SpawnPlan {
  const args = ['--pdeathsig', 'TERM'];
  if (creds !== null) {
    args.push('--reuid', String(creds.uid), '--regid', String(creds.gid));
    if (creds.groups !== undefined) args.push('--groups', creds.groups.join(','));
    else if (creds.name !== undefined) args.push('--init-groups');
    // php-fpm calls initgroups("4321", gid) for a uid without a passwd entry:
    // the gid alone (setpriv refuses --init-groups there, and --keep-groups
    // would hand the master's own groups, root's, to the children).
    else args.push('--groups', String(creds.gid));
  }
  return { command: setpriv, args: [...args, '--', plan.command, ...plan.args], env: plan.env };
}
