// The master process: opens every pool's socket (all or nothing), starts the
// children, handles php-fpm's signals (reference §6: TERM/INT, QUIT, USR1,
// USR2/HUP in php-fpm's states normal → reloading/finishing/terminating) and
// exits cleanly. Reloading is src/control/reload.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FpmConfig } from '../config/types.js';
import type { CliOptions } from '../cli/options.js';
import type { ErrorLog } from '../log/error-log.js';
import { Pool } from '../pool/pool.js';
import type { InterpreterOptions } from '../php/spawn-plan.js';
import { chooseIni } from '../php/fpm-ini.js';
import { daemonizeIfAsked, reportReady } from './daemonize.js';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes.js';
import { createRundir, sweepStaleRundirs } from './rundir.js';
import { setListenLog } from '../net/listener.js';
import { reopenAccessLogs } from '../log/access-log.js';
import { drainPools, type Drain } from './drain.js';
import { reload, type Generation, type MasterState, type ReloadHost } from './reload.js';
import { apparmorRefusal, applyMasterLimits, applyMasterPriority } from '../php/isolation.js';
import { CrashWindow } from '../pool/emergency.js';
import { SystemdMonitor, SystemdNotifier, type Figures } from './systemd.js';


export async function runMaster(config: FpmConfig, opts: CliOptions, log: ErrorLog): Promise<number> {
  const daemonize = opts.daemonize ?? config.global.daemonize;
  // [global] rlimit_*, before the fork as php-fpm's fpm_unix_init_main(); apparmor_hat cannot be honoured.
  const refusal = applyMasterLimits(config.global) ?? config.pools.map((p) => apparmorRefusal(p)).find((r) => r !== null) ?? null;
  if (refusal !== null) {
    log.error(refusal);
    log.error('FPM initialization failed');
    return EXIT_CONFIG;
  }
  const launcherExit = await daemonizeIfAsked(daemonize);
  if (launcherExit !== null) return launcherExit;

  const isRoot = process.geteuid?.() === 0;
  if (config.global.processPriority !== null) {
    if (!isRoot) log.notice("'process.priority' directive is ignored when FPM is not running as root");
    else {
      const err = applyMasterPriority(config.global.processPriority);
      if (err !== null) {
        log.syserror('error', 'Unable to set priority for the master process', err as NodeJS.ErrnoException);
        log.error('FPM initialization failed');
        return EXIT_CONFIG;
      }
    }
  }
  for (const dir of sweepStaleRundirs()) log.debug(`removed ${dir}, left behind by a master that is gone`);
  const rundir = createRundir();
  const ini = chooseIni(opts, process.env);
  // php-fpm prints nothing about its php.ini at start: DEBUG only.
  log.debug(`children read php.ini ${ini.phpIni ?? "(php-cgi's own search)"}, conf.d ${ini.scanDir === null ? "(php-cgi's own)" : ini.scanDir || '(none)'}`);
  const php: InterpreterOptions = { phpCgi: opts.phpCgi, phpIni: ini.phpIni, noPhpIni: opts.noPhpIni, defines: opts.defines, scanDir: ini.scanDir };
  const master = new Master(opts, log, daemonize, { rundir, isRoot, php }, config);
  const cleanupRundir = (): void => { fs.rmSync(rundir, { recursive: true, force: true }); };
  const pools = master.current.pools;

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
  master.pidFile = pidFile;

  process.title = `tsfpm: master process (${config.path})`;
  // Handlers first: a signal that arrives right after "ready" must not find
  // Node's default action (death without cleanup).
  const done = master.handleSignals();

  // php-fpm stops copying log lines to stderr just before this line (zlog_set_launched()).
  log.startupDone();
  log.notice(`fpm is running, pid ${process.pid}`);
  for (const pool of pools) pool.start();
  log.notice('ready to handle connections');
  master.systemd.ready(config.global.systemdInterval);
  reportReady(true, log.fd);
  return done;
}

interface Environment {
  rundir: string;          // the master's run directory; generation N > 0 uses rundir/rN
  isRoot: boolean;
  php: InterpreterOptions;
}

class Master implements ReloadHost {
  state: MasterState = 'normal';
  current: Generation;
  pidFile: string | null = null;
  private generations = 0;
  private readonly drains = new Map<Generation, Drain>();
  private exit: ((code: number) => void) | null = null;
  private stopTimer: NodeJS.Timeout | null = null;
  private finishing: Drain | null = null;
  private stopping: Pool[] = [];
  /** emergency_restart_*: recent crashes (emergency.ts), for the running configuration's values. */
  private faults: CrashWindow | null = null;
  /** Type=notify (systemd.ts). */
  readonly systemd: SystemdMonitor;

  constructor(
    readonly opts: CliOptions,
    readonly log: ErrorLog,
    readonly daemonize: boolean,
    private readonly env: Environment,
    config: FpmConfig,
  ) {
    this.current = this.newGeneration(config, env.rundir);
    const notifier = SystemdNotifier.fromEnv(process.env, (msg) => this.log.warning(msg));
    this.systemd = new SystemdMonitor(notifier, () => this.figures(), log);
  }

  /** php-fpm's scoreboard sums for systemd's STATUS line. */
  private figures(): Figures {
    const f: Figures = { active: 0, idle: 0, requests: 0, slow: 0 };
    for (const pool of this.current.pools) {
      f.requests += pool.acceptedConn;
      f.slow += pool.slowRequests;
      for (const c of pool.children) {
        if (c.state === 'busy') f.active++;
        else if (c.state === 'idle') f.idle++;
      }
    }
    return f;
  }

  /**
   * A child died of SIGSEGV/SIGBUS (or, in a shared parent, vanished):
   * php-fpm's emergency restart is a reload once `threshold` such deaths fall
   * within `interval` seconds (src/pool/emergency.ts).
   */
  private crashed(): void {
    const g = this.current.config.global;
    if (this.faults?.threshold !== g.emergencyRestartThreshold || this.faults.interval !== g.emergencyRestartInterval) {
      this.faults = CrashWindow.create(g.emergencyRestartThreshold, g.emergencyRestartInterval);
    }
    if (this.faults === null || !this.faults.record(Date.now() / 1000)) return;
    this.log.warning(this.faults.message());
    this.faults.reset();
    this.requestReload(false);
  }

  private newGeneration(config: FpmConfig, rundir: string): Generation {
    const { log, isRoot, php } = { log: this.log, ...this.env };
    // process.max counts the running configuration's children only: those of
    // a replaced one are on their way out.
    const mayStart = (): boolean => {
      const max = this.current.config.global.processMax;
      return max <= 0 || this.current.pools.reduce((n, p) => n + p.liveCount(), 0) < max;
    };
    const crashed = (): void => this.crashed();
    const pools = config.pools.map((p) => new Pool(p, { log, rundir, isRoot, mayStart, php, crashed }));
    return { id: this.generations++, config, pools, rundir };
  }

  newRundir(): string {
    const dir = fs.mkdtempSync(path.join(this.env.rundir, 'r'));
    fs.chmodSync(dir, 0o711);   // children of another uid read their shim there
    return dir;
  }

  createGeneration(config: FpmConfig, rundir: string): Generation {
    return this.newGeneration(config, rundir);
  }

  discardRundir(rundir: string): void {
    if (rundir !== this.env.rundir) fs.rmSync(rundir, { recursive: true, force: true });
  }

  draining(gen: Generation, drain: Drain): void {
    this.drains.set(gen, drain);
    void drain.done.then(() => {
      if (this.drains.get(gen) !== drain) return;   // a stop took over
      this.drains.delete(gen);
      this.discardRundir(gen.rundir);
    });
  }

  handleSignals(): Promise<number> {
    const done = new Promise<number>((resolve) => { this.exit = resolve; });
    process.on('SIGTERM', () => this.stop(false));
    process.on('SIGINT', () => this.stop(false));
    process.on('SIGQUIT', () => this.stop(true));
    process.on('SIGUSR1', () => {
      try {
        this.log.reopen();
        this.log.notice('error log file re-opened');
      } catch {
        this.log.error('unable to re-opened error log file');
      }
      reopenAccessLogs(this.log);
    });
    // php-fpm 8.2 (Debian's, observed) reloads on HUP as on USR2.
    process.on('SIGUSR2', () => this.requestReload());
    process.on('SIGHUP', () => this.requestReload());
    return done;
  }

  /**
   * php-fpm's fpm_pctl() rules: the NOTICE is logged for every signal, a
   * duplicate is ignored, reloading gives way to finishing and terminating,
   * finishing to terminating, terminating to nothing. `announce` = false for
   * a reload php-fpm starts without that NOTICE (emergency restart).
   */
  requestReload(announce = true): void {
    if (announce) this.log.notice('Reloading in progress ...');
    if (this.state !== 'normal') return;
    this.state = 'reloading';
    this.systemd.reloading();
    reload(this).then(
      () => { if (this.state === 'reloading') { this.state = 'normal'; this.systemd.reloaded(); } },
      (err: unknown) => {
        // A bug, not a bad config: say so and keep serving what runs.
        this.log.alert(`reloading failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        if (this.state === 'reloading') { this.state = 'normal'; this.systemd.reloaded(); }
      },
    );
  }

  private stop(graceful: boolean): void {
    this.log.notice(graceful ? 'Finishing ...' : 'Terminating ...');
    if (this.state === 'terminating' || (this.state === 'finishing' && graceful)) return;
    this.state = graceful ? 'finishing' : 'terminating';
    this.systemd.stopping();
    // Every pool, the running configuration's and those still draining after a reload.
    const pools = [...new Set([...this.stopping, ...[this.current, ...this.drains.keys()].flatMap((g) => g.pools)])];
    this.stopping = pools;
    for (const d of this.drains.values()) d.cancel();
    this.drains.clear();
    this.finishing?.cancel();
    const timeout = this.current.config.global.processControlTimeout;
    let stopped: Promise<unknown>;
    if (graceful) {
      // php-fpm kills at once with the default timeout 0; tsfpm waits for
      // running requests instead (0 = no limit), see drain.ts.
      this.finishing = drainPools(pools, timeout, this.log);
      stopped = this.finishing.done;
    } else {
      // TERM escalates to KILL after process_control_timeout, at least 1 s.
      if (this.stopTimer !== null) clearTimeout(this.stopTimer);
      this.stopTimer = setTimeout(() => { for (const p of pools) p.killAll(); }, Math.max(timeout * 1000, 1000));
      stopped = Promise.all(pools.map((p) => p.stop(false)));
    }
    void stopped.then(() => this.finish());
  }

  private finish(): void {
    if (this.exit === null) return;
    const exit = this.exit;
    this.exit = null;
    if (this.stopTimer !== null) clearTimeout(this.stopTimer);
    for (const p of this.current.pools) p.closeListener();
    if (this.pidFile !== null) { try { fs.unlinkSync(this.pidFile); } catch { /* gone */ } }
    fs.rmSync(this.env.rundir, { recursive: true, force: true });
    this.log.notice('exiting, bye-bye!');
    this.log.flush();
    // STOPPING=1 reaches systemd before the master is gone (at most 1 s).
    void this.systemd.flush().then(() => exit(EXIT_OK));
  }
}
