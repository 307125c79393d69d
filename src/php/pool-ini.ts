// What tsfpm changes in a pool's php_value[] / php_admin_value[] before they
// become php-cgi's `-d` switches, so that the children end up where php-fpm's
// workers are (docs/php-side.md).
import type { PoolConfig } from '../config/types.js';
import { buildSpawnPlan, type InterpreterOptions } from './spawn-plan.js';
import { probeIni } from './ini-probe.js';

/** The value goes where the pool set it (php_admin_value wins), else with php_value. */
function setValue(cfg: PoolConfig, name: string, value: string): PoolConfig {
  if (name in cfg.phpAdminValues) return { ...cfg, phpAdminValues: { ...cfg.phpAdminValues, [name]: value } };
  return { ...cfg, phpValues: { ...cfg.phpValues, [name]: value } };
}

/**
 * php-fpm disables the functions and classes of a pool's disable_functions /
 * disable_classes on top of php.ini's (its master disabled those at start;
 * ini_get() shows the pool's value). A `-d` would replace php.ini's list, so
 * the pool's value goes to php-cgi with php.ini's in front. One more ini
 * probe, only for pools that set either.
 */
export function withIniDisables(cfg: PoolConfig, php: InterpreterOptions, userEnv: { USER?: string; HOME?: string }): PoolConfig {
  const names = ['disable_functions', 'disable_classes'].filter((k) => (cfg.phpAdminValues[k] ?? cfg.phpValues[k] ?? '') !== '');
  if (names.length === 0) return cfg;
  const strip = (r: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(r).filter(([k]) => !names.includes(k)));
  const base = probeIni(buildSpawnPlan({ ...cfg, phpValues: strip(cfg.phpValues), phpAdminValues: strip(cfg.phpAdminValues) }, php, null, process.env, userEnv), names);
  if (base instanceof Error) return cfg;
  return mergeDisables(cfg, base);
}

/** Pure: php.ini's lists (`inherited`) in front of the pool's. */
export function mergeDisables(cfg: PoolConfig, inherited: Record<string, string | null>): PoolConfig {
  let out = cfg;
  for (const k of ['disable_functions', 'disable_classes']) {
    const own = cfg.phpAdminValues[k] ?? cfg.phpValues[k] ?? '';
    const base = inherited[k] ?? '';
    if (own !== '' && base !== '') out = setValue(out, k, `${base},${own}`);
  }
  return out;
}

/**
 * Pure: open_basedir (`effective`, as the children would have it) widened by
 * tsfpm's own files, each alone (an open_basedir entry that names a file
 * allows that file only), since php-cgi opens the prepend shim under
 * open_basedir. Nothing when there is no open_basedir.
 */
export function withBasedirFiles(cfg: PoolConfig, effective: string, files: string[]): PoolConfig {
  if (effective === '') return cfg;
  return setValue(cfg, 'open_basedir', [effective, ...files].join(':'));
}
