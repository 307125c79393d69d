// Asks php-cgi, started exactly as a pool's children are (same php.ini,
// conf.d, -d values), for the effective value of a few ini settings the
// master needs (cgi.fix_pathinfo decides how php-fpm reads the request's
// paths). One helper run per pool at start (shared by alike pools), ~25 ms;
// never on the request path.
import { execFileSync } from 'node:child_process';
import type { SpawnPlan } from './spawn-plan.js';
import { helperEnv } from './helper-env.js';

type Probe = Record<string, string | null> | Error;

// Pools started together (a start, a reload: one synchronous run) with the
// same interpreter setup share one helper run: 129 alike pools took 3-4 s to
// start on a loaded 2-core machine (php-src bug80024-socket-reduced-inherit
// allows 3). Forgotten once the event loop turns, so a reload asks again
// (php.ini may have changed).
const recent = new Map<string, Probe>();

/**
 * The values, or an Error saying why php-cgi could not tell. `constants`
 * (e.g. PHP_VERSION) are returned under their own names next to the settings;
 * for each of `access`, `access:NAME` is the directive's ini_get_all() access
 * bits (PHP_INI_USER 1, PERDIR 2, SYSTEM 4) as a string, null if unknown;
 * for each of `cfg`, `cfg:NAME` is get_cfg_var() (a directive php-cgi does
 * not know, given in php.ini or with -d), null when not set.
 */
export function probeIni(
  plan: SpawnPlan, names: readonly string[], constants: readonly string[] = [], access: readonly string[] = [], cfg: readonly string[] = [],
): Probe {
  const key = JSON.stringify([plan.command, plan.args, plan.env, names, constants, access, cfg]);
  const hit = recent.get(key);
  if (hit !== undefined) return hit;
  const result = runProbe(plan, names, constants, access, cfg);
  if (recent.size === 0) setImmediate(() => recent.clear());
  recent.set(key, result);
  return result;
}

/** A PHP array literal of single-quoted strings (no interpolation of `$` in a directive name). */
const phpList = (xs: readonly string[]): string => `[${xs.map((x) => `'${x.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')}]`;

function runProbe(plan: SpawnPlan, names: readonly string[], constants: readonly string[], access: readonly string[], cfg: readonly string[]): Probe {
  const script = `<?php $a = ${access.length > 0 ? 'ini_get_all(null, true)' : '[]'}; ` +
    `echo json_encode(array_merge(array_map(fn ($n) => ini_get($n) === false ? null : ini_get($n), ${phpList(names)}), ` +
    `array_map(fn ($c) => defined($c) ? (string) constant($c) : null, ${phpList(constants)}), ` +
    `array_map(fn ($n) => isset($a[$n]) ? (string) $a[$n]['access'] : null, ${phpList(access)}), ` +
    `array_map(fn ($n) => is_string(get_cfg_var($n)) ? get_cfg_var($n) : null, ${phpList(cfg)})));`;
  try {
    // The pool's auto_prepend_file (tsfpm's shim) must not run here.
    const out = execFileSync(plan.command, ['-q', ...plan.args, '-d', 'auto_prepend_file='], {
      input: script, encoding: 'latin1', timeout: 10_000, stdio: ['pipe', 'pipe', 'ignore'], env: helperEnv(plan.env),
    });
    const values = JSON.parse(out) as Array<string | null>;
    const result: Record<string, string | null> = {};
    [...names, ...constants, ...access.map((n) => `access:${n}`), ...cfg.map((n) => `cfg:${n}`)].forEach((n, i) => { result[n] = values[i] ?? null; });
    return result;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
