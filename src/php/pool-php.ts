// How one pool's php-cgi children are started: the spawn plan, the shim
// prepended to every request, and the php.ini facts the master needs. php-cgi
// is asked once (ini-probe) for cgi.fix_pathinfo, cgi.discard_path and
// doc_root, which decide how the master recomputes the request environment
// (src/request-env), and for the upload limits tsfpm.request_buffering checks
// (src/body). php-cgi copies its own process environment into
// $_SERVER; the variables tsfpm sets only to run php-cgi (and that php-fpm's
// workers do not have) are taken out of $_SERVER by the shim.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PoolConfig } from '../config/types.js';
import { buildSpawnPlan, type InterpreterOptions, type SpawnPlan } from './spawn-plan.js';
import { buildShim } from './shim.js';
import { probeIni } from './ini-probe.js';
import { iniParamsPhp } from './ini-params.js';
import { lockIni, lockable, topLevelDirs, withScanDir, writeAdminLock } from './admin-lock.js';
import { withBasedirFiles, withIniDisables } from './pool-ini.js';
import { PATH_INI, pathSettings, type PathSettings } from '../request-env/fpm-env.js';
import { DEFAULT_SAPI, SAPI_INI, sapiHeaders, type SapiHeaders } from '../status/reply.js';
import { ACCESS_INI, outputBuffering } from '../log/reply-head.js';
import { accessMark } from '../log/status-mark.js';
import { ERROR_HEADER_CFG } from './error-header.js';
import { BODY_INI, bodyLimits, type BodyLimits } from '../body/limits.js';

export interface PoolPhp {
  plan: SpawnPlan;
  paths: PathSettings;
  /** What PHP adds to a reply's headers (expose_php, default_charset...): the status pages' headers. */
  sapi: SapiHeaders;
  /** output_buffering (the access log's %{Content-type}o, src/log/reply-head.ts). */
  outputBuffering: number;
  /** post_max_size, upload_max_filesize...: what tsfpm.request_buffering checks (src/body); null if php-cgi could not tell. */
  bodyLimits: BodyLimits | null;
  /** Set when php-cgi could not be asked; the defaults are then assumed. */
  probeError: Error | null;
  /** php_admin_value[] names a script cannot change (admin-lock.ts). */
  locked: string[];
  /** Why some php_admin_value[] stay changeable by scripts, or null. */
  lockProblem: string | null;
  /**
   * The pool's fastcgi.logging: PHP's messages go to the web server. When it
   * is off the children still run with it on (fastcgi_finish_request()'s
   * mark and the access log's travel as messages: src/php/finish-request.ts)
   * and the master keeps the messages from the web server, as php-fpm's
   * worker does (it logs them either way).
   */
  stderrToClient: boolean;
}


export function preparePoolPhp(
  cfg: PoolConfig,
  php: InterpreterOptions,
  shimPath: string,
  userEnv: { USER?: string; HOME?: string },
  /** Static pool under one php-cgi parent (PHP_FCGI_CHILDREN in its environment). */
  shared: boolean,
  /**
   * The children's own php-cgi options where they differ (php/isolation.ts: a
   * jail's php.ini snapshot, a non-readable copy of php-cgi) and the shim's
   * path as they see it; php-cgi is still asked outside, with `php`.
   */
  jail: { php: InterpreterOptions; shimRef: string } | null = null,
  /** The pool's shim socket as the children name it (shim-socket.ts): fpm_get_status(), PHP_VALUE notes. */
  shimSocket: string | null = null,
): PoolPhp {
  let pool = withIniDisables(cfg, php, userEnv);
  const bare = buildSpawnPlan(pool, php, null, process.env, userEnv);
  const admin = Object.keys(pool.phpAdminValues);
  const ini = probeIni(bare, [...PATH_INI, ...SAPI_INI, ...ACCESS_INI, 'open_basedir', 'fastcgi.logging', ...BODY_INI], ['PHP_VERSION'], admin, [ERROR_HEADER_CFG]);
  const logging = ini instanceof Error || ini['fastcgi.logging'] == null || !['', '0'].includes(ini['fastcgi.logging']);
  const paths = pathSettings(ini instanceof Error ? {} : ini);
  const sapi = ini instanceof Error ? DEFAULT_SAPI : sapiHeaders(ini, ini.PHP_VERSION ?? null);
  const userPrepend = cfg.phpAdminValues.auto_prepend_file ?? cfg.phpValues.auto_prepend_file ?? null;
  // tsfpm's own PHP files: where the master writes them, and how the children name them.
  const ownDir = path.dirname(shimPath);
  const ownRef = path.dirname(jail?.shimRef ?? shimPath);
  const shimRef = path.join(ownRef, path.basename(shimPath));
  const iniParamsFile = `${cfg.name}.ini-params.php`;
  const iniParamsRef = path.join(ownRef, iniParamsFile);
  // Under open_basedir the children must still open them (each file alone, nothing else of the directory).
  if (!(ini instanceof Error)) {
    pool = withBasedirFiles(pool, ini.open_basedir ?? '', [shimRef, iniParamsRef, ...(shared ? [path.join(ownRef, 'whoami.php')] : [])]);
  }
  let childPhp = jail?.php ?? php;
  const access: Record<string, number | null> = {};
  for (const k of admin) access[k] = ini instanceof Error || ini[`access:${k}`] == null ? null : Number(ini[`access:${k}`]);
  const locked = ini instanceof Error ? [] : lockable(pool.phpAdminValues, access);
  let lockProblem: string | null = null;
  if (locked.length > 0 && childPhp.noPhpIni) {
    lockProblem = `php-cgi runs with -n (no ini file): scripts can change php_admin_value ${locked.map((k) => `'${k}'`).join(', ')}`;
  } else if (locked.length > 0) {
    // The children's own root: a jail's skeleton (ownDir is its /.tsfpm, which they name otherwise), else the host's.
    const root = ownRef !== ownDir ? path.dirname(ownDir) : '/';
    const dir = `${cfg.name}.ini.d`;
    writeAdminLock(path.join(ownDir, dir), lockIni(cfg.name, locked.map((k) => [k, pool.phpAdminValues[k]]), topLevelDirs(root)));
    const current = buildSpawnPlan(pool, childPhp, null, process.env, userEnv).env.PHP_INI_SCAN_DIR;
    childPhp = { ...childPhp, scanDir: withScanDir(current, path.join(ownRef, dir)) };
  }
  const childEnv = buildSpawnPlan(pool, childPhp, null, process.env, userEnv).env;
  const hide = tsfpmOnlyEnv(cfg, childEnv, process.env, shared);
  const mark = accessMark(cfg);
  // Nothing to check, hide, report or define (no shim socket): no per-request include at all.
  const errorHeader = ini instanceof Error ? '' : ini[`cfg:${ERROR_HEADER_CFG}`] ?? '';
  const needShim = cfg.securityLimitExtensions.length > 0 || hide.length > 0 || mark !== null || shimSocket !== null || errorHeader !== '';
  if (shimSocket !== null) {
    fs.writeFileSync(path.join(ownDir, iniParamsFile), iniParamsPhp({
      socketRef: shimSocket, locked, inEnv: (['PHP_VALUE', 'PHP_ADMIN_VALUE'] as const).filter((k) => childEnv[k] !== undefined),
    }), { mode: 0o644 });
  }
  if (needShim) {
    fs.writeFileSync(shimPath, buildShim({
      limitExtensions: cfg.securityLimitExtensions, userPrependFile: userPrepend || null,
      scriptIsPathTranslated: !paths.fixPathinfo && !paths.discardPath, hideEnv: hide, mark,
      ...(shimSocket !== null ? { statusSocket: shimSocket, iniParams: iniParamsRef, finishRequest: true } : {}),
      errorHeader,
    }), { mode: 0o644 });
  }
  const plan = buildSpawnPlan(pool, childPhp, needShim ? shimRef : null, process.env, userEnv);
  // Last: php-cgi takes the last -d of a directive.
  if (!logging) plan.args.push('-d', 'fastcgi.logging=1');
  return {
    plan, paths, sapi, outputBuffering: ini instanceof Error ? 0 : outputBuffering(ini),
    bodyLimits: ini instanceof Error ? null : bodyLimits(ini),
    probeError: ini instanceof Error ? ini : null, locked, lockProblem, stderrToClient: logging,
  };
}

/**
 * Variables in a child's environment that only tsfpm put there: php-cgi's
 * switches, and PHP_INI_SCAN_DIR when php-fpm would have had it compiled in.
 */
export function tsfpmOnlyEnv(cfg: PoolConfig, childEnv: Record<string, string>, masterEnv: NodeJS.ProcessEnv, shared: boolean): string[] {
  const own = (k: string): boolean => k in cfg.env || (!cfg.clearEnv && masterEnv[k] !== undefined);
  const out = ['PHP_FCGI_MAX_REQUESTS'];
  if (shared) out.push('PHP_FCGI_CHILDREN');
  if (childEnv.PHP_INI_SCAN_DIR !== undefined && !own('PHP_INI_SCAN_DIR')) out.push('PHP_INI_SCAN_DIR');
  return out.filter((k) => k === 'PHP_FCGI_CHILDREN' || !own(k));
}
