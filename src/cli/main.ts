// Entry point (bin/tsfpm): php-fpm's command line, -t/-tt, then the master.
// Exit codes (reference §1): 0 ok, 64 usage, 70 software error, 78 init/config failure.
import { EXIT_OK, EXIT_USAGE, EXIT_SOFTWARE, EXIT_CONFIG } from '../control/exit-codes.js';
import { reexecWithMasterFlags } from '../control/v8-flags.js';
import { enterBatchScheduling } from '../control/scheduling.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, usageText, type CliOptions } from './options.js';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { dumpConfig } from '../config/dump.js';
import type { ConfigMessage } from '../config/parse.js';
import type { FpmConfig } from '../config/types.js';
import { ErrorLog } from '../log/error-log.js';
import { isDaemonChild } from '../control/daemonize.js';
import { helperEnv } from '../php/helper-env.js';

export { EXIT_OK, EXIT_USAGE, EXIT_SOFTWARE, EXIT_CONFIG };

type RunMaster = (config: FpmConfig, opts: CliOptions, log: ErrorLog) => Promise<number>;

export function main(argv: string[]): void {
  const prog = argv[1] ?? 'tsfpm';
  // `tsfpm -i | head` closes the pipe early; that is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
  const action = parseArgs(argv.slice(2));
  switch (action.kind) {
    case 'help': process.stdout.write(usageText(prog)); return exit(EXIT_OK);
    // php-fpm 8.2 prints the usage on stdout for a bad option too (verified).
    case 'usage-error': process.stdout.write(usageText(prog)); return exit(EXIT_USAGE);
    case 'version': return exit(version(action.opts));
    case 'info': return exit(interpreterOutput(action.opts, '-i'));
    case 'modules': return exit(interpreterOutput(action.opts, '-m'));
    case 'run': break;
  }
  const opts = action.opts;
  if (opts.test === 0) {
    reexecWithMasterFlags();
    enterBatchScheduling();
  }
  const log = new ErrorLog();
  const code = prepare(opts, log);
  if (code !== null) { log.flush(); return exit(code); }
}

/** Load, validate, -t/-tt, open error_log; null = the master was started. */
function prepare(opts: CliOptions, log: ErrorLog): number | null {
  const result = loadConfig({
    fpmConfig: opts.fpmConfig, prefix: opts.prefix, test: opts.test > 0, allowRoot: opts.allowRoot,
    daemonize: opts.daemonize, pidFile: opts.pidFile, phpCgi: opts.phpCgi, phpIni: opts.phpIni,
    noPhpIni: opts.noPhpIni, defines: opts.defines,
  });
  // In a daemon re-spawned by its launcher the launcher has logged these already.
  const quiet = result.ok && isDaemonChild();
  let next = 0;
  const emitUpTo = (end: number): void => {
    for (; next < end; next++) if (!quiet) emit(log, result.messages[next]);
  };
  // php-fpm's post-processing applies log_level/log_limit, then opens error_log
  // and logs there from then on (pool NOTICEs included): same points here.
  const g = result.global;
  if (g !== undefined && result.levelAt !== undefined) {
    emitUpTo(result.levelAt);
    log.setLevel(g.logLevel);
    log.setLimit(g.logLimit);
  }
  if (g !== undefined && result.openAt !== undefined) {
    emitUpTo(result.openAt);
    try {
      log.configure({
        errorLog: g.errorLog, logLevel: g.logLevel, logLimit: g.logLimit, logBuffering: g.logBuffering, daemonize: g.daemonize,
        syslogIdent: g.syslogIdent, syslogFacility: g.syslogFacility,
        forceStderr: opts.forceStderr,
      });
    } catch (e) {
      log.syserror('error', `failed to open error_log (${g.errorLog})`, e as NodeJS.ErrnoException);
      log.error('FPM initialization failed');
      return EXIT_CONFIG;
    }
  }
  emitUpTo(result.messages.length);
  if (!result.ok) {
    log.error('FPM initialization failed');
    return EXIT_CONFIG;
  }
  const { config } = result;
  if (opts.test === 0 && process.env.TSFPM_LOG_FORMAT === 'json') log.useJson();
  if (opts.test > 0) {
    if (opts.test > 1) for (const line of dumpConfig(config)) log.notice(line);
    // php-fpm's message ends with '\n', hence the empty line after it.
    log.notice(`configuration file ${resolveConfigPath(opts.fpmConfig, opts.prefix)} test is successful\n`);
    return EXIT_OK;
  }
  let runMaster: RunMaster;
  try {
    // Required lazily: -t must work even while the master module is missing or broken.
    runMaster = (require('../control/master.js') as { runMaster: RunMaster }).runMaster;
    if (typeof runMaster !== 'function') throw new Error('runMaster is not exported');
  } catch (e) {
    log.alert(`the master process is not available: ${(e as Error).message.split('\n')[0]}`);
    log.error('FPM initialization failed');
    return EXIT_SOFTWARE;
  }
  runMaster(config, opts, log).then(
    (code) => { log.flush(); exit(code); },
    (e: unknown) => {
      log.alert(`master failed: ${e instanceof Error ? e.message : String(e)}`);
      log.flush();
      exit(EXIT_SOFTWARE);
    },
  );
  return null;
}

function emit(log: ErrorLog, m: ConfigMessage): void {
  if (m.raw) process.stderr.write(`${m.text}\n`);          // Zend's `PHP:  syntax error…` has no timestamp
  else if (m.syserr) log.syserror(m.level, m.text, m.syserr);
  else log.log(m.level, m.text);
}

function exit(code: number): void {
  process.exitCode = code;
  // Let stdout drain (piped -i output can be large), then leave.
  if (process.stdout.writableLength > 0) process.stdout.once('drain', () => process.exit(code));
  else process.exit(code);
}

function runInterpreter(opts: CliOptions, args: string[]): string | null {
  const full = [...(opts.noPhpIni ? ['-n'] : []), ...(opts.phpIni !== null ? ['-c', opts.phpIni] : []),
    ...opts.defines.flatMap((d) => ['-d', d]), ...args];
  try {
    return execFileSync(opts.phpCgi, full, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'], env: helperEnv(process.env) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string };
    if (typeof err.stdout === 'string' && err.stdout !== '') return err.stdout;
    process.stderr.write(`tsfpm: unable to run the PHP interpreter '${opts.phpCgi}': ${err.message.split('\n')[0]}\n`);
    return null;
  }
}

/** php-cgi -i / -m; -i starts with CGI headers (X-Powered-By, Content-type), which are dropped. */
function interpreterOutput(opts: CliOptions, flag: '-i' | '-m'): number {
  const out = runInterpreter(opts, [flag]);
  if (out === null) return EXIT_SOFTWARE;
  process.stdout.write(flag === '-i' ? stripCgiHeaders(out) : out);
  return EXIT_OK;
}

export function stripCgiHeaders(out: string): string {
  const m = /^(?:[A-Za-z0-9-]+: [^\r\n]*\r?\n)+\r?\n/.exec(out);
  return m ? out.slice(m[0].length) : out;
}

/** php-fpm's -v, the SAPI tag naming tsfpm's version. */
function version(opts: CliOptions): number {
  const out = runInterpreter(opts, ['-v']);
  if (out === null) return EXIT_SOFTWARE;
  process.stdout.write(rewriteVersion(out, tsfpmVersion()));
  return EXIT_OK;
}

export function rewriteVersion(phpV: string, own: string): string {
  // php-fpm's SAPI tag, as scripts and php-src's main-version test expect
  // (`(fpm%s (built:`), naming tsfpm inside it; no extra line after Zend's.
  return phpV.replace('(cgi-fcgi)', `(fpm-fcgi; tsfpm ${own})`);
}

function tsfpmVersion(): string {
  // dist/src/cli/main.js → repo root; src/cli/main.ts under ts-node-like runners → also two/three up.
  for (const up of ['../../..', '../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsfpm' && pkg.version) return pkg.version;
    } catch { /* try the next candidate */ }
  }
  return 'unknown';
}
