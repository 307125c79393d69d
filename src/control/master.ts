// The master process: opens every pool's socket (all or nothing), starts the
// children, handles php-fpm's signals and exits cleanly.
import * as fs from 'node:fs';
import type { FpmConfig } from '../config/types.js';
import type { CliOptions } from '../cli/options.js';
import type { ErrorLog } from '../log/error-log.js';
import { Pool } from '../pool/pool.js';
import { chooseIni } from '../php/fpm-ini.js';
import { daemonizeIfAsked, reportReady } from './daemonize.js';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes.js';
import { createRundir, sweepStaleRundirs } from './rundir.js';
import { setListenLog } from '../net/listener.js';


export async function runMaster(config: FpmConfig, opts: CliOptions, log: ErrorLog): Promise<number> {
  const daemonize = opts.daemonize ?? config.global.daemonize;
  const launcherExit = await daemonizeIfAsked(daemonize);
  if (launcherExit !== null) return launcherExit;

  const isRoot = process.geteuid?.() === 0;
  for (const dir of sweepStaleRundirs()) log.debug(`removed ${dir}, left behind by a master that is gone`);
  const rundir = createRundir();
  const cleanupRundir = (): void => { fs.rmSync(rundir, { recursive: true, force: true }); };
  const ini = chooseIni(opts, process.env);
  // php-fpm prints nothing about its php.ini at start: DEBUG only.
  log.debug(`children read php.ini ${ini.phpIni ?? "(php-cgi's own search)"}, conf.d ${ini.scanDir === null ? "(php-cgi's own)" : ini.scanDir || '(none)'}`);
  const processMax = config.global.processMax;
  const mayStart = (): boolean => processMax <= 0 || pools.reduce((n, p) => n + p.liveCount(), 0) < processMax;
  const pools: Pool[] = config.pools.map((p) => new Pool(p, {
    log, rundir, isRoot, mayStart,
    php: { phpCgi: opts.phpCgi, phpIni: ini.phpIni, noPhpIni: opts.noPhpIni, defines: opts.defines, scanDir: ini.scanDir },
  }));

  // Every socket first: a bad listen line must not leave half a daemon running.
  setListenLog((level, msg) => log.log(level, msg));
  try {
    for (const pool of pools) await pool.listen();
  } catch (err) {
    log.error((err as Error).message);
    log.error('FPM initialization failed');
    for (const pool of pools) pool.closeListener();
    cleanupRundir();
    reportReady(false, log.fd);
    return EXIT_CONFIG;
  }

  const pidFile = config.global.pid ?? opts.pidFile;
  if (pidFile !== null) {
    try {
      fs.writeFileSync(pidFile, String(process.pid), { mode: 0o644 });
    } catch (err) {
      log.syserror('error', `Unable to create the PID file (${pidFile}).`, err as NodeJS.ErrnoException);
      for (const pool of pools) pool.closeListener();
      cleanupRundir();
      reportReady(false, log.fd);
      return EXIT_CONFIG;
    }
  }

  process.title = `tsfpm: master process (${config.path})`;
  // Handlers first: a signal that arrives right after "ready" must not find
  // Node's default action (death without cleanup).
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (graceful: boolean): void => {
      if (stopping) return;
      stopping = true;
      log.notice(graceful ? 'Finishing ...' : 'Terminating ...');
      const timeout = config.global.processControlTimeout;
      // php-fpm kills at once with the default timeout 0; a graceful stop here
      // waits for running requests instead (0 = no limit), TERM escalates after 1 s.
      const ms = graceful ? timeout * 1000 : Math.max(timeout * 1000, 1000);
      const timer = ms > 0 ? setTimeout(() => { for (const p of pools) p.killAll(); }, ms) : null;
      Promise.all(pools.map((p) => p.stop(graceful))).then(() => {
        if (timer !== null) clearTimeout(timer);
        for (const p of pools) p.closeListener();
        if (pidFile !== null) { try { fs.unlinkSync(pidFile); } catch { /* gone */ } }
        cleanupRundir();
        log.notice('exiting, bye-bye!');
        log.flush();
        resolve(EXIT_OK);
      });
    };
    process.on('SIGTERM', () => stop(false));
    process.on('SIGINT', () => stop(false));
    process.on('SIGQUIT', () => stop(true));
    process.on('SIGUSR1', () => {
      try {
        log.reopen();
        log.notice('error log file re-opened');
      } catch {
        log.error('unable to re-opened error log file');
      }
    });
    const reload = (): void => {
      // TODO(reload issue): re-exec with inherited sockets; until then, say so.
      log.warning('reload (SIGUSR2/SIGHUP) is not implemented yet; configuration unchanged');
    };
    process.on('SIGUSR2', reload);
    process.on('SIGHUP', reload);
  });

  // php-fpm stops copying log lines to stderr just before this line (zlog_set_launched()).
  log.startupDone();
  log.notice(`fpm is running, pid ${process.pid}`);
  for (const pool of pools) pool.start();
  log.notice('ready to handle connections');
  reportReady(true, log.fd);
  return done;
}
