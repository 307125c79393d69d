// Asks php-cgi, started exactly as a pool's children are (same php.ini,
// conf.d, -d values), for the effective value of a few ini settings the
// master needs (cgi.fix_pathinfo decides how php-fpm reads the request's
// paths). One helper run per pool at start, ~25 ms; never on the request path.
import { execFileSync } from 'node:child_process';
import type { SpawnPlan } from './spawn-plan.js';
import { helperEnv } from './helper-env.js';

/**
 * The values, or an Error saying why php-cgi could not tell. `constants`
 * (e.g. PHP_VERSION) are returned under their own names next to the settings.
 */
export function probeIni(plan: SpawnPlan, names: readonly string[], constants: readonly string[] = []): Record<string, string | null> | Error {
  const script = `<?php echo json_encode(array_merge(array_map(fn ($n) => ini_get($n) === false ? null : ini_get($n), ${JSON.stringify(names)}), ` +
    `array_map(fn ($c) => defined($c) ? (string) constant($c) : null, ${JSON.stringify(constants)})));`;
  try {
    // The pool's auto_prepend_file (tsfpm's shim) must not run here.
    const out = execFileSync(plan.command, ['-q', ...plan.args, '-d', 'auto_prepend_file='], {
      input: script, encoding: 'latin1', timeout: 10_000, stdio: ['pipe', 'pipe', 'ignore'], env: helperEnv(plan.env),
    });
    const values = JSON.parse(out) as Array<string | null>;
    const result: Record<string, string | null> = {};
    [...names, ...constants].forEach((n, i) => { result[n] = values[i] ?? null; });
    return result;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
