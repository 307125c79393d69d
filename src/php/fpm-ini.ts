// Which php.ini and conf.d the children read: php-fpm's, found the way
// php-fpm finds them. php-fpm takes `-c`, else $PHPRC, else its compiled-in
// /etc/php/X.Y/fpm/php.ini; it scans $PHP_INI_SCAN_DIR when set (empty: no
// scan), else /etc/php/X.Y/fpm/conf.d; `-n` turns both off. php-cgi would look
// in /etc/php/X.Y/cgi instead, so tsfpm tells it explicitly (-c and
// PHP_INI_SCAN_DIR), also under clear_env, which php-fpm's ini reading ignores.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { helperEnv } from './helper-env.js';

export interface IniChoice {
  phpIni: string | null;        // for -c (null: php-cgi's own search)
  scanDir: string | null;       // for PHP_INI_SCAN_DIR (null: php-cgi's own; '' scans nothing)
}

export interface IniInputs {
  version: string | null;       // "8.2", from the interpreter
  cliIni: string | null;        // -c
  noIni: boolean;               // -n
  env: NodeJS.ProcessEnv;
  exists: (p: string) => boolean;
}

/** Pure: php-fpm's php.ini search, given what exists. */
export function fpmIniFor(i: IniInputs): IniChoice {
  if (i.noIni) return { phpIni: null, scanDir: null };
  const dir = i.version !== null ? `/etc/php/${i.version}/fpm` : null;
  let phpIni = i.cliIni;
  if (phpIni === null && i.env.PHPRC) phpIni = i.env.PHPRC;
  if (phpIni === null && dir !== null && i.exists(`${dir}/php.ini`)) phpIni = `${dir}/php.ini`;
  let scanDir: string | null = null;
  if (i.env.PHP_INI_SCAN_DIR !== undefined) scanDir = i.env.PHP_INI_SCAN_DIR;
  else if (dir !== null && i.exists(`${dir}/conf.d`)) scanDir = `${dir}/conf.d`;
  return { phpIni, scanDir };
}

/** "8.2" from `php-cgi -n -v` (one exec at start-up), or null. */
export function phpCgiVersion(phpCgi: string, env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    const out = execFileSync(phpCgi, ['-n', '-v'], {
      encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000, env: helperEnv(env),
    });
    const m = /^PHP (\d+\.\d+)\./.exec(out);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

export function chooseIni(opts: { phpCgi: string; phpIni: string | null; noPhpIni: boolean }, env: NodeJS.ProcessEnv): IniChoice {
  // TSFPM_FPM_INI=0: php-cgi's own search (its cgi/ directory, PHPRC, ...).
  if (opts.noPhpIni || env.TSFPM_FPM_INI === '0') return { phpIni: opts.phpIni, scanDir: null };
  // A relative PHPRC is relative to the master's start directory, not a child's chdir.
  const e = env.PHPRC ? { ...env, PHPRC: path.resolve(env.PHPRC) } : env;
  return fpmIniFor({
    version: phpCgiVersion(opts.phpCgi, env), cliIni: opts.phpIni, noIni: false, env: e, exists: (p) => fs.existsSync(p),
  });
}
