// php-fpm's command line (reference §1) parsed with commander. Pure: argv in,
// a discriminated result out; main.ts does the printing and exiting.
import path from 'node:path';
import { Command, CommanderError } from 'commander';

export interface CliOptions {
  phpIni: string | null;
  noPhpIni: boolean;
  defines: string[];              // 'k=v' as php-fpm would pass them on
  profileInfo: boolean;
  fpmConfig: string | null;
  test: 0 | 1 | 2;
  prefix: string | null;
  pidFile: string | null;
  allowRoot: boolean;
  daemonize: boolean | null;      // null = config decides
  forceStderr: boolean;
  phpCgi: string;
}

export type CliAction =
  | { kind: 'run'; opts: CliOptions }
  | { kind: 'help' }
  | { kind: 'usage-error' }
  | { kind: 'version' | 'info' | 'modules'; opts: CliOptions };

/** `Usage: %s …`: basename of argv[0] when it contains '/', else `php` (php-fpm's quirk). */
export function usageText(prog: string): string {
  const name = prog.includes('/') ? path.basename(prog) : 'php';
  return `Usage: ${name} [-n] [-e] [-h] [-i] [-m] [-v] [-t] [-p <prefix>] [-g <pid>] [-c <file>] [-d foo[=bar]] [-y <file>] [-D] [-F [-O]]
  -c <path>|<file> Look for php.ini file in this directory
  -n               No php.ini file will be used
  -d foo[=bar]     Define INI entry foo with value 'bar'
  -e               Generate extended information for debugger/profiler
  -h               This help
  -i               PHP information
  -m               Show compiled in modules
  -v               Version number
  -p, --prefix <dir>
                   Specify alternative prefix path to FastCGI process manager (default: /usr).
  -g, --pid <file>
                   Specify the PID file location.
  -y, --fpm-config <file>
                   Specify alternative path to FastCGI process manager config file.
  -t, --test       Test FPM configuration and exit
  -D, --daemonize  force to run in background, and ignore daemonize option from config file
  -F, --nodaemonize
                   force to stay in foreground, and ignore daemonize option from config file
  -O, --force-stderr
                   force output to stderr in nodaemonize even if stderr is not a TTY
  -R, --allow-to-run-as-root
                   Allow pool to run as root (disabled by default)
`;
}

/** `-d k` = `k=1`; a value not starting with an alphanumeric or a quote is double-quoted. */
export function normalizeDefine(arg: string): string {
  const eq = arg.indexOf('=');
  if (eq < 0) return `${arg}=1`;
  const key = arg.slice(0, eq);
  const val = arg.slice(eq + 1);
  if (val === '' || /^[A-Za-z0-9"']/.test(val)) return `${key}=${val}`;
  return `${key}="${val}"`;
}

export function parseArgs(args: string[], env: NodeJS.ProcessEnv = process.env): CliAction {
  // `-?` is not a valid commander flag name; php-fpm treats it like -h.
  if (args.some((a) => a === '-?' || a === '--usage')) return { kind: 'help' };
  let test = 0;
  let daemonize: boolean | null = null;
  const defines: string[] = [];
  const cmd = new Command()
    .exitOverride()
    .helpOption(false)
    .allowExcessArguments(false)
    .allowUnknownOption(false)
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .option('-c, --php-ini <file>')
    .option('-n, --no-php-ini')
    .option('-d, --define <foo[=bar]>', '', (v: string) => { defines.push(normalizeDefine(v)); return v; })
    .option('-e, --profile-info')
    .option('-h, --help')
    .option('-i, --info')
    .option('-m, --modules')
    .option('-v, --version')
    .option('-y, --fpm-config <file>')
    .option('-t, --test', '', () => { test++; return true; })
    .option('-p, --prefix <dir>')
    .option('-g, --pid <file>')
    .option('-R, --allow-to-run-as-root')
    .option('-D, --daemonize', '', () => { daemonize = true; return true; })
    .option('-F, --nodaemonize', '', () => { daemonize = false; return true; })
    .option('-O, --force-stderr')
    .option('--php-cgi <path>');
  try {
    cmd.parse(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return { kind: 'usage-error' };
    throw e;
  }
  const o = cmd.opts<{
    phpIni?: string | boolean; define?: string; profileInfo?: boolean; help?: boolean; info?: boolean;
    modules?: boolean; version?: boolean; fpmConfig?: string; prefix?: string; pid?: string;
    allowToRunAsRoot?: boolean; forceStderr?: boolean; phpCgi?: string;
  }>();
  // commander's `--no-php-ini` negates `phpIni`: false means -n was given.
  const opts: CliOptions = {
    phpIni: typeof o.phpIni === 'string' ? o.phpIni : null,
    noPhpIni: o.phpIni === false,
    defines,
    profileInfo: Boolean(o.profileInfo),
    fpmConfig: o.fpmConfig ?? null,
    test: (Math.min(test, 2) as 0 | 1 | 2),
    prefix: o.prefix ?? null,
    pidFile: o.pid ?? null,
    allowRoot: Boolean(o.allowToRunAsRoot),
    daemonize,
    forceStderr: Boolean(o.forceStderr),
    phpCgi: o.phpCgi ?? env.TSFPM_PHP_CGI ?? 'php-cgi',
  };
  if (o.help) return { kind: 'help' };
  if (o.info) return { kind: 'info', opts };
  if (o.modules) return { kind: 'modules', opts };
  if (o.version) return { kind: 'version', opts };
  return { kind: 'run', opts };
}
