// How one pool's php-cgi children are started: the spawn plan, the shim
// prepended to every request, and the php.ini facts the master needs. php-cgi
// is asked once (ini-probe) for cgi.fix_pathinfo, cgi.discard_path and
// doc_root, which decide how the master recomputes the request environment
// (src/request-env). php-cgi copies its own process environment into
// $_SERVER; the variables tsfpm sets only to run php-cgi (and that php-fpm's
// workers do not have) are taken out of $_SERVER by the shim.
import * as fs from 'node:fs';
import type { PoolConfig } from '../config/types.js';
import { buildSpawnPlan, type InterpreterOptions, type SpawnPlan } from './spawn-plan.js';
import { buildShim } from './shim.js';
import { probeIni } from './ini-probe.js';
import { PATH_INI, pathSettings, type PathSettings } from '../request-env/fpm-env.js';
import { DEFAULT_SAPI, SAPI_INI, sapiHeaders, type SapiHeaders } from '../status/reply.js';
import { ACCESS_INI, outputBuffering } from '../log/reply-head.js';
import { accessMark } from '../log/status-mark.js';

export interface PoolPhp {
  plan: SpawnPlan;
  paths: PathSettings;
  /** What PHP adds to a reply's headers (expose_php, default_charset...): the status pages' headers. */
  sapi: SapiHeaders;
  /** output_buffering (the access log's %{Content-type}o, src/log/reply-head.ts). */
  outputBuffering: number;
  /** Set when php-cgi could not be asked; the defaults are then assumed. */
  probeError: Error | null;
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
): PoolPhp {
  const bare = buildSpawnPlan(cfg, php, null, process.env, userEnv);
  const ini = probeIni(bare, [...PATH_INI, ...SAPI_INI, ...ACCESS_INI], ['PHP_VERSION']);
  const paths = pathSettings(ini instanceof Error ? {} : ini);
  const sapi = ini instanceof Error ? DEFAULT_SAPI : sapiHeaders(ini, ini.PHP_VERSION ?? null);
  const userPrepend = cfg.phpAdminValues.auto_prepend_file ?? cfg.phpValues.auto_prepend_file ?? null;
  const childPhp = jail?.php ?? php;
  const hide = tsfpmOnlyEnv(cfg, jail === null ? bare.env : buildSpawnPlan(cfg, childPhp, null, process.env, userEnv).env, process.env, shared);
  const mark = accessMark(cfg);
  // Nothing to check, hide or report: no per-request include at all.
  const needShim = cfg.securityLimitExtensions.length > 0 || hide.length > 0 || mark !== null;
  if (needShim) {
    fs.writeFileSync(shimPath, buildShim({
      limitExtensions: cfg.securityLimitExtensions, userPrependFile: userPrepend || null,
      scriptIsPathTranslated: !paths.fixPathinfo && !paths.discardPath, hideEnv: hide, mark,
    }), { mode: 0o644 });
  }
  const plan = buildSpawnPlan(cfg, childPhp, needShim ? jail?.shimRef ?? shimPath : null, process.env, userEnv);
  return { plan, paths, sapi, outputBuffering: ini instanceof Error ? 0 : outputBuffering(ini), probeError: ini instanceof Error ? ini : null };
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
