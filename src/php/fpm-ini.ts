// Which php.ini the children read. php-cgi reads /etc/php/X.Y/cgi/php.ini and
// cgi/conf.d; php-fpm reads /etc/php/X.Y/fpm/php.ini and fpm/conf.d, which is
// the file an operator moving from php-fpm has tuned (memory_limit,
// upload_max_filesize, opcache...). So, unless -c or -n says otherwise, tsfpm
// points php-cgi at php-fpm's php.ini and conf.d when they exist.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface IniChoice {
  phpIni: string | null;        // for -c
  scanDir: string | null;       // for PHP_INI_SCAN_DIR
}

/** Pure: the php-fpm ini locations for a PHP version, given what exists. */
export function fpmIniFor(version: string, exists: (p: string) => boolean): IniChoice {
  const dir = `/etc/php/${version}/fpm`;
  const ini = `${dir}/php.ini`;
  if (!exists(ini)) return { phpIni: null, scanDir: null };
  return { phpIni: ini, scanDir: exists(`${dir}/conf.d`) ? `${dir}/conf.d` : null };
}

/** "8.2" from `php-cgi -v` (one exec at start-up), or null. */
export function phpCgiVersion(phpCgi: string): string | null {
  try {
    const out = execFileSync(phpCgi, ['-n', '-v'], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    const m = /^PHP (\d+\.\d+)\./.exec(out);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

export function chooseIni(opts: { phpCgi: string; phpIni: string | null; noPhpIni: boolean }, env: NodeJS.ProcessEnv): IniChoice {
  if (opts.noPhpIni || opts.phpIni !== null || env.TSFPM_FPM_INI === '0') return { phpIni: opts.phpIni, scanDir: null };
  const version = phpCgiVersion(opts.phpCgi);
  if (version === null) return { phpIni: null, scanDir: null };
  const choice = fpmIniFor(version, (p) => fs.existsSync(p));
  // An operator's own PHP_INI_SCAN_DIR wins, as it would for php-fpm.
  if (env.PHP_INI_SCAN_DIR !== undefined) choice.scanDir = null;
  return choice;
}
