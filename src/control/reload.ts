// SIGUSR2 (and SIGHUP): php-fpm re-execs itself with its listening sockets
// inherited; tsfpm reloads in place (Node cannot execve itself with its
// handles, and -F needs the same pid anyway), with php-fpm's log lines in
// php-fpm's order. Everything that can fail is done first, while the running
// configuration serves on untouched: load and validate the files (users and
// groups included), open the sockets the new configuration adds, write the
// pid file. Any failure logs why, with file and line, and changes nothing.
// Then, in one go (no I/O in between): every new pool takes over the socket
// it shares with a running pool (same fd, so nothing is refused or reset), or
// its new one; sockets nobody wants any more close; the new pools start fresh
// children (new php.ini, new settings) and serve what the old pools had
// waiting; the old pools finish their running requests (drain.ts) and their
// kept-alive web-server connections move to the new pools at their next
// request. docs/reload.md has the details and what differs from php-fpm.
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { CliOptions } from '../cli/options.js';
import { loadConfig, resolveConfigPath, type LoadResult } from '../config/load.js';
import type { ConfigMessage } from '../config/parse.js';
import type { FpmConfig, GlobalConfig, PoolConfig } from '../config/types.js';
import type { ErrorLog, LogLevel } from '../log/error-log.js';
import { adoptConnections, type FrontSocket } from '../net/front-socket.js';
import { openListener, type Listener } from '../net/listener.js';
import { listenOptions, type Pool } from '../pool/pool.js';
import { registerStatusMain } from '../status/status-listen.js';
import { drainPools, type Drain } from './drain.js';
import { execvpLine, inheritedLine, locateListen, locateMessage, matchSocket, type RunningSocket } from './reload-plan.js';
import { apparmorRefusal, applyMasterLimits } from '../php/isolation.js';

/** One configuration's pools, each generation with its own run directory (children's sockets, shims). */
export interface Generation {
  readonly id: number;
  readonly config: FpmConfig;
  readonly pools: Pool[];
  readonly rundir: string;
}

export type MasterState = 'normal' | 'reloading' | 'finishing' | 'terminating';

/** What the reload needs from the master (src/control/master.ts). */
export interface ReloadHost {
  readonly log: ErrorLog;
  readonly opts: CliOptions;
  /** The master's mode since it started (a reload cannot daemonize or come back). */
  readonly daemonize: boolean;
  /** 'reloading' while a reload runs; a QUIT or TERM meanwhile ends it. */
  readonly state: MasterState;
  current: Generation;
  pidFile: string | null;
  /** A run directory for the next generation. */
  newRundir(): string;
  /** The pools for `config` (not listening, not started). Pools register themselves (status): only at the swap. */
  createGeneration(config: FpmConfig, rundir: string): Generation;
  /** Removes a run directory (of a reload that did not happen, or of a generation now empty). */
  discardRundir(rundir: string): void;
  /** The old generation finishes in the background. */
  draining(gen: Generation, drain: Drain): void;
}

interface Opened {
  listener: Listener;
  early: FrontSocket[];
}

interface Prepared {
  config: FpmConfig;
  result: Extract<LoadResult, { ok: true }>;
  rundir: string;
  /** By the new configuration's pools. */
  kept: Map<PoolConfig, { from: Pool; socket: RunningSocket }>;
  opened: Map<PoolConfig, Opened>;
  listenLines: { level: LogLevel; msg: string }[];
}

/** Runs one reload; false when the running configuration stays (the reason is logged). */
export async function reload(host: ReloadHost): Promise<boolean> {
  const prepared = await prepare(host);
  if (prepared === null) return false;
  // A QUIT or TERM came while the new sockets were being opened.
  if (host.state !== 'reloading') {
    abandon(host, prepared);
    return false;
  }
  return swap(host, prepared);
}

function loadOptions(opts: CliOptions): Parameters<typeof loadConfig>[0] {
  return {
    fpmConfig: opts.fpmConfig, prefix: opts.prefix, test: false, allowRoot: opts.allowRoot,
    daemonize: opts.daemonize, pidFile: opts.pidFile, phpCgi: opts.phpCgi, phpIni: opts.phpIni,
    noPhpIni: opts.noPhpIni, defines: opts.defines,
  };
}

/** The running configuration's sockets, in php-fpm's order (pool order; each socket once). */
export function runningSockets(gen: Generation): Map<Pool, RunningSocket> {
  const out = new Map<Pool, RunningSocket>();
  for (const pool of gen.pools) {
    const l = pool.currentListener;
    if (l === null) continue;
    out.set(pool, { address: l.address, key: socketKey(l), fd: socketFd(l.server) });
  }
  return out;
}

function socketKey(l: Listener): string {
  if (l.address.kind === 'unix') return l.address.path;
  const a = l.server.address();
  return a !== null && typeof a === 'object' ? `${a.address}:${a.port}` : l.address.text;
}

function socketFd(server: net.Server): number {
  return (server as unknown as { _handle: { fd?: number } | null })._handle?.fd ?? -1;
}

async function prepare(host: ReloadHost): Promise<Prepared | null> {
  const { log, opts } = host;
  const mainPath = resolveConfigPath(opts.fpmConfig, opts.prefix);
  const result = loadConfig(loadOptions(opts));
  if (!result.ok) {
    for (const m of result.messages) emit(log, m);
    const first = result.messages.find((m) => m.level === 'error' || m.level === 'alert');
    failed(log, first === undefined ? mainPath : locateMessage(first.text, result.where, mainPath));
    return null;
  }
  const config = result.config;
  // As at start (master.ts): apparmor_hat cannot be honoured; the new [global] rlimits are the master's own.
  for (const c of config.pools) {
    const refusal = apparmorRefusal(c);
    if (refusal === null) continue;
    log.error(refusal);
    failed(log, result.where?.directives.get(`${c.name.toLowerCase()}\0apparmor_hat`)?.at ?? locateMessage(refusal, result.where, mainPath));
    return null;
  }
  const limits = applyMasterLimits(config.global);
  if (limits !== null) {
    log.error(limits);
    failed(log, locateMessage(limits, result.where, mainPath));
    return null;
  }
  const running = runningSockets(host.current);
  const free = new Map([...running].map(([pool, s]) => [s, pool]));
  const kept = new Map<PoolConfig, { from: Pool; socket: RunningSocket }>();
  const opened = new Map<PoolConfig, Opened>();
  const listenLines: { level: LogLevel; msg: string }[] = [];
  const closeOpened = (): void => {
    for (const o of opened.values()) { for (const s of o.early) s.destroy(); o.listener.close(); }
  };
  for (const cfg of config.pools) {
    try {
      const o = listenOptions(cfg, (level, msg) => listenLines.push({ level, msg }));
      const resolved = o.address.kind === 'tcp' && o.address.host !== null ? await resolveHost(o.address.host) : null;
      const same = matchSocket(o.address, resolved, [...free.keys()]);
      if (same !== null) {
        kept.set(cfg, { from: free.get(same)!, socket: same });
        free.delete(same);
        continue;
      }
      const listener = await openListener(o);
      // Until the swap, what arrives on a new socket waits here (no pool to serve it yet).
      const early: FrontSocket[] = [];
      adoptConnections(listener.server, (sock) => early.push(sock));
      opened.set(cfg, { listener, early });
    } catch (err) {
      for (const l of listenLines) log.log(l.level, l.msg);
      log.error((err as Error).message);
      closeOpened();
      failed(log, locateListen(cfg.name, result.where, mainPath));
      return null;
    }
  }
  let rundir: string;
  try {
    rundir = host.newRundir();
  } catch (err) {
    log.syserror('error', 'unable to create a run directory for the new configuration', err as NodeJS.ErrnoException);
    closeOpened();
    failed(log, mainPath);
    return null;
  }
  const pidFile = config.global.pid;
  if (pidFile !== null) {
    try {
      fs.writeFileSync(pidFile, String(process.pid), { mode: 0o644 });
    } catch (err) {
      log.syserror('error', `Unable to create the PID file (${pidFile}).`, err as NodeJS.ErrnoException);
      closeOpened();
      host.discardRundir(rundir);
      failed(log, locateMessage('pid', result.where, mainPath));
      return null;
    }
  }
  return { config, result, rundir, kept, opened, listenLines };
}

/** The address `listen = host:port` binds to (what net.Server.listen resolves). */
async function resolveHost(host: string): Promise<string | null> {
  if (net.isIP(host) !== 0) return host;
  try {
    return (await dns.promises.lookup(host)).address;
  } catch {
    return null;     // openListener reports the failure in php-fpm's words
  }
}

function failed(log: ErrorLog, at: string): void {
  log.error(`reloading failed (${at}): the running configuration stays in force`);
}

/** Undoes prepare(); `started` pools (a failed swap) are stopping: their run directory goes once they are empty. */
function abandon(host: ReloadHost, p: Prepared, started: Pool[] = []): void {
  for (const o of p.opened.values()) { for (const s of o.early) s.destroy(); o.listener.close(); }
  const pid = p.config.global.pid;
  if (pid !== null && pid !== host.pidFile) { try { fs.unlinkSync(pid); } catch { /* gone */ } }
  const stopped = Promise.all(started.map((n) => n.stop(false)));
  for (const n of started) n.killAll();   // fresh children, no request: no need to wait for them
  void stopped.then(() => host.discardRundir(p.rundir));
}

/**
 * One synchronous run (no I/O callback can interleave). The new pools start
 * first; if one cannot (its isolation setup failed), they are stopped again
 * and the running configuration keeps everything. From the socket handover on
 * nothing can fail.
 */
function swap(host: ReloadHost, p: Prepared): boolean {
  const { log } = host;
  const old = host.current;
  const gen = host.createGeneration(p.config, p.rundir);
  const kept = new Map<Pool, { from: Pool; socket: RunningSocket }>();
  for (const pool of gen.pools) { const k = p.kept.get(pool.cfg); if (k !== undefined) kept.set(pool, k); }
  log.notice(execvpLine(process.argv.slice(1)));
  // php-fpm's new image copies NOTICE+ to its stderr until `fpm is running`
  // (a daemon's stderr is error_log itself: once is enough).
  if (!host.daemonize) log.relaunch();
  applyGlobals(host, p.result);
  const running = runningSockets(old);
  for (const s of running.values()) log.notice(inheritedLine(s));
  for (const l of p.listenLines) log.log(l.level, l.msg);
  log.startupDone();
  log.notice(`fpm is running, pid ${process.pid}`);

  // process.max counts the current generation: the new one from here on.
  host.current = gen;
  const started: Pool[] = [];
  for (const pool of gen.pools) {
    try {
      pool.start();
      started.push(pool);
    } catch (err) {
      host.current = old;
      restoreLog(host, p.config.global, old.config.global);
      log.error(`[pool ${pool.name}] unable to start: ${(err as Error).message}`);
      for (const o of old.pools) registerStatusMain(o);
      abandon(host, p, started);
      failed(log, locateMessage(`[pool ${pool.name}] `, p.result.where, p.config.path));
      return false;
    }
  }

  // Which new pool takes over each old pool's requests: the one with its
  // socket, else the one with its name (a changed listen); none: the pool is gone.
  const successor = new Map<Pool, Pool>();
  for (const [pool, k] of kept) successor.set(k.from, pool);
  for (const o of old.pools) {
    if (successor.has(o)) continue;
    const same = gen.pools.find((n) => n.name === o.name);
    if (same !== undefined) successor.set(o, same);
  }
  const keptFrom = new Set([...kept.values()].map((k) => k.from));
  const released = new Map<Pool, Listener>();
  const waiting = new Map<Pool, ReturnType<Pool['takeQueue']>>();
  for (const o of old.pools) {
    const l = o.releaseListener();
    if (l !== null && keptFrom.has(o)) released.set(o, l);
    else l?.close();
    o.successor = successor.get(o) ?? null;
    // A removed pool's own children serve what it has waiting.
    if (o.successor !== null) waiting.set(o, o.takeQueue());
  }
  if (host.pidFile !== null && host.pidFile !== p.config.global.pid) {
    try { fs.unlinkSync(host.pidFile); } catch { /* gone */ }
  }
  host.pidFile = p.config.global.pid;
  for (const pool of gen.pools) {
    for (const [o, n] of successor) if (n === pool) pool.adoptQueue(waiting.get(o) ?? []);
    const k = kept.get(pool);
    const opened = p.opened.get(pool.cfg);
    const listener = k !== undefined ? released.get(k.from) : opened?.listener;
    if (listener !== undefined) pool.useListener(listener, opened?.early);
  }
  log.notice('ready to handle connections');
  host.draining(old, drainPools(old.pools, old.config.global.processControlTimeout, log));
  return true;
}

/** error_log, log_level, log_limit of the new [global], at php-fpm's points among the config's messages. */
function applyGlobals(host: ReloadHost, r: Extract<LoadResult, { ok: true }>): void {
  const { log } = host;
  const g = r.global;
  let next = 0;
  const upTo = (end: number | undefined): void => {
    for (const stop = end ?? r.messages.length; next < stop; next++) emit(log, r.messages[next]);
  };
  upTo(r.levelAt);
  log.setLevel(g.logLevel);
  log.setLimit(g.logLimit);
  upTo(r.openAt);
  switchDestination(host, host.current.config.global, g);
  upTo(undefined);
}

/** error_log and how it is written (buffering, syslog ident/facility), when the new [global] changes them. */
function switchDestination(host: ReloadHost, from: GlobalConfig, g: GlobalConfig): void {
  const { log, opts } = host;
  if (g.errorLog === from.errorLog && g.logBuffering === from.logBuffering
    && g.syslogIdent === from.syslogIdent && g.syslogFacility === from.syslogFacility) return;
  try {
    log.configure({ errorLog: g.errorLog, logLevel: g.logLevel, logLimit: g.logLimit, logBuffering: g.logBuffering, syslogIdent: g.syslogIdent, syslogFacility: g.syslogFacility, daemonize: host.daemonize, forceStderr: opts.forceStderr });
    if (process.env.TSFPM_LOG_FORMAT === 'json') log.useJson();
    if (host.daemonize) pointStderrAt(log.fd);
  } catch (e) {
    // validate.ts opened it a moment ago; keep the old destination.
    log.syserror('error', `failed to open error_log (${g.errorLog})`, e as NodeJS.ErrnoException);
  }
}

/** A swap that did not happen: the running configuration's logging again. */
function restoreLog(host: ReloadHost, from: GlobalConfig, running: GlobalConfig): void {
  host.log.setLevel(running.logLevel);
  host.log.setLimit(running.logLimit);
  switchDestination(host, from, running);
}

/** A daemon's fd 2 follows error_log, as php-fpm's (fpm_stdio_redirect_stderr_to_error_log). */
function pointStderrAt(fd: number | null): void {
  try {
    const posix = (require('posix-node') as { default: { dup2?: (a: number, b: number) => void } }).default;
    posix.dup2?.(fd ?? fs.openSync('/dev/null', 'w'), 2);
  } catch { /* stderr stays where it was */ }
}

function emit(log: ErrorLog, m: ConfigMessage): void {
  if (m.raw) process.stderr.write(`${m.text}\n`);
  else if (m.syserr) log.syserror(m.level, m.text, m.syserr);
  else log.log(m.level, m.text);
}
