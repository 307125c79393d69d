// One pool: its listening socket, its php-cgi children, the FIFO of requests
// waiting for an idle child, and its process manager's tick.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { PoolConfig } from '../config/types.js';
import type { ErrorLog } from '../log/error-log.js';
import { parseListen, parseAllowedClients, isClientAllowed, workerDropLine, workerStartLines, type AllowedClients } from '../net/address.js';
import { openListener, type Listener, type ListenLog, type ListenOptions } from '../net/listener.js';
import { adoptConnections, type FrontSocket } from '../net/front-socket.js';
import { type Credentials, type InterpreterOptions, type SpawnPlan } from '../php/spawn-plan.js';
import { launchPhpCgi, type LaunchOptions } from '../php/launch.js';
import { titledPlan } from '../php/proc-title.js';
import type { ChildProcess } from 'node:child_process';
import { lookupGroup, lookupUser } from '../platform/users.js';
import { ClientConn, type RequestSink } from './client-conn.js';
import { Child, whoamiRequest, type ChildOwner, type WorkerEnd } from './child.js';
import type { Request } from './request.js';
import { tick, initialChildren } from './pm.js';
import { WorkerOutput, messageCap } from './worker-output.js';
import { StderrMessages, type MessageKind } from './reply-stderr.js';
import { RequestEnv, chrootProbe, fsProbe } from '../request-env/request-env.js';
import { prepareIsolation } from '../php/isolation.js';
import { isCrashSignal } from './emergency.js';
import { DEFAULT_PATH_SETTINGS } from '../request-env/fpm-env.js';
import { preparePoolPhp } from '../php/pool-php.js';
import { AccessLog, truncatedNoticeLine } from '../log/access-log.js';
import { defaultContentType } from '../status/reply.js';
import { ShimSocket } from '../php/shim-socket.js';
import { IniParamNotes } from '../php/ini-params.js';
import { collectStatus } from '../status/collect.js';
import { renderPhp } from '../status/render-php.js';
import { StatusResponder } from '../status/responder.js';
import type { StatusSource } from '../status/collect.js';
import { registerStatusMain, statusListenReply } from '../status/status-listen.js';
import type { PathProbe, PathSettings } from '../request-env/fpm-env.js';
import { RequestWatchdog } from '../slowlog/watchdog.js';
import { BodyBuffering, type HeldRequestOwner } from '../body/buffering.js';

export interface PoolContext {
  log: ErrorLog;
  php: InterpreterOptions;
  rundir: string;          // the master's private directory (mode 0711): children's sockets, shims
  isRoot: boolean;
  /** process.max: false when starting one more child would exceed it. */
  mayStart(): boolean;
  /** A child crashed (emergency_restart_threshold: src/pool/emergency.ts says what counts). */
  crashed?(): void;
}

export type PoolState = 'normal' | 'finishing' | 'terminating';

// util-linux, in every Debian install; without it children run as the master
// (with a warning at start when a pool sets `user`).
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p)) ?? null;

/** How long a child reserved for a silent connection waits for its request. */
const RESERVATION_MS = 1000;

export class Pool implements RequestSink, ChildOwner, StatusSource {
  readonly name: string;
  state: PoolState = 'normal';
  readonly startedAt = Date.now();
  readonly children = new Set<Child>();
  private idle: Child[] = [];
  // Requests waiting for a child, and connections not read yet because no
  // child was idle when they arrived (their bytes wait in the kernel), in
  // arrival order.
  private queue: (Request | ClientConn)[] = [];
  private qHead = 0;
  /** Connections holding a reserved child until their request is read. */
  private readonly reservations = new Set<ClientConn>();
  private listener: Listener | null = null;
  private allowed: AllowedClients | null = null;
  private plan!: SpawnPlan;
  private requestEnv = new RequestEnv(DEFAULT_PATH_SETTINGS);
  private spawnOpts: LaunchOptions = { catchOutput: false };
  /** Shared mode (static pools): one php-cgi parent forks pm.max_children workers. */
  private parent: ChildProcess | null = null;
  private parentSeq = 0;
  /** Shared mode: workers of a parent that died (killed with its group, not crashed). */
  private readonly orphans = new Set<number>();
  /** What each new worker says into its stderr as php-fpm's would (a limit it could not set). */
  private startLines: string[] = [];
  private probe: Buffer | null = null;
  private seq = 0;
  private spawnRate = 1;
  private warnedMaxChildren = false;
  private tickedEarly = false;                 // dynamic: the tick already ran early this period
  private readonly idleKills = new Set<Child>(); // asked to quit at the last tick: SIGKILL at this one
  private timer: NodeJS.Timeout | null = null;
  private readonly output: WorkerOutput;
  /** access.log (src/log/access-log.ts); null without one. */
  private access: AccessLog | null = null;
  private onEmpty: (() => void) | null = null;
  // Counters for the status page.
  acceptedConn = 0;
  maxActive = 0;
  maxChildrenReached = 0;
  maxListenQueue = 0;
  /** Requests logged by request_slowlog_timeout (src/slowlog/watchdog.ts). */
  slowRequests = 0;
  /** request_slowlog_timeout / request_terminate_timeout; null without either. */
  private watchdog: RequestWatchdog | null = null;
  /** Children engaged or held for a connection: php-fpm's active workers, for max active processes. */
  private readonly busy = new Set<Child>();
  /** pm.status_path and ping.path, answered by the master (src/status); null without either. */
  readonly status: StatusResponder | null;
  /** Durations and max active kept per request: a pool with a page, or once a script called fpm_get_status(). */
  private tracked: boolean;
  /** The socket the children's shim asks on (fpm_get_status(), PHP_VALUE notes); src/php/shim-socket.ts. */
  private shimSocket: ShimSocket | null = null;
  /** fastcgi.logging: PHP's messages go to the web server too (src/php/pool-php.ts). */
  private stderrToClient = true;
  /** tsfpm.request_buffering (src/body); null when off, and then none of it runs. */
  private bodies: BodyBuffering | null = null;
  /** Requests being received whole before a child is engaged. */
  private readonly receiving = new Set<Request>();
  private readonly heldOwner: HeldRequestOwner = {
    ready: (req) => { this.receiving.delete(req); this.heldReady(req); },
    refused: (req, reply) => { this.receiving.delete(req); this.replyLocally(req, reply); this.settleStopped(); },
    failed: (req) => { this.receiving.delete(req); req.client.sock.destroy(); this.settleStopped(); },
  };

  constructor(readonly cfg: PoolConfig, private readonly ctx: PoolContext) {
    this.name = cfg.name;
    this.output = new WorkerOutput(ctx.log, cfg.name, cfg.decorateWorkersOutput);
    this.status = StatusResponder.for(cfg);
    this.tracked = this.status !== null;
    this.requestEnv = new RequestEnv(DEFAULT_PATH_SETTINGS, fsProbe, this.status !== null);
    registerStatusMain(this);
  }

  /** Opens the listening socket; throws ListenError/ListenAddressError with php-fpm's message. */
  async listen(): Promise<void> {
    this.useListener(await openListener(listenOptions(this.cfg)));
  }

  /**
   * Serves the connections of `listener`: one it opened, or at a reload one
   * kept from the pool it replaces; `early` were accepted before (reload).
   */
  useListener(listener: Listener, early: readonly FrontSocket[] = []): void {
    this.listener = listener;
    this.allowed = listener.address.kind === 'tcp' ? parseAllowedClients(this.cfg.listenAllowedClients) : null;
    listener.server.removeAllListeners('connection');
    adoptConnections(listener.server, (sock) => this.onConnection(sock));
    for (const sock of early) this.onConnection(sock);
  }

  get currentListener(): Listener | null { return this.listener; }

  /** Prepares the spawn plan and starts the initial children and the PM tick. */
  start(): void {
    // pm.status_listen's hidden pool: no child, the master answers (src/status/status-listen.ts).
    if (this.cfg.hidden) return;
    const cfg = this.cfg;
    // request_slowlog_timeout / request_terminate_timeout (src/slowlog): requests are timed
    // from when a child takes them (Request.startedAt, the status page's clock).
    this.watchdog = RequestWatchdog.forPool(this, this.ctx.log);
    if (this.watchdog !== null) this.tracked = true;
    let userEnv: { USER?: string; HOME?: string } = {};
    let creds: Credentials | null = null;
    if (this.ctx.isRoot && cfg.user !== null) {
      const u = lookupUser(cfg.user);
      const g = cfg.group !== null ? lookupGroup(cfg.group) : null;
      if (u !== null) {
        userEnv = { USER: u.name, HOME: u.home };
        creds = { uid: u.uid, gid: g?.gid ?? u.gid, name: u.name };
      }
    }
    // rlimits, chroot, chdir, groups (src/php/isolation.ts); tsfpm's own PHP files go where the children see them.
    const iso = prepareIsolation({ cfg, isRoot: this.ctx.isRoot, rundir: this.ctx.rundir, php: this.ctx.php, creds, userEnv });
    for (const n of iso.notes) this.ctx.log[n.level](n.text);
    this.startLines = iso.startLines;
    const shimPath = path.join(iso.ownDir, `${this.name}.prepend.php`);
    const shimRef = path.join(iso.ownRef, `${this.name}.prepend.php`);
    const sockName = shimSocketName(this.name, iso.ownDir);
    const shimSocket = this.openShimSocket(path.join(iso.ownDir, sockName), creds);
    let php: ReturnType<typeof preparePoolPhp>;
    try {
      php = preparePoolPhp(cfg, this.ctx.php, shimPath, userEnv, this.sharedMode, iso.childPhp === this.ctx.php ? null : { php: iso.childPhp, shimRef }, path.join(iso.ownRef, sockName));
    } catch (e) {
      shimSocket.close();
      throw e;
    }
    this.shimSocket = shimSocket;
    this.stderrToClient = php.stderrToClient;
    if (php.lockProblem !== null) this.ctx.log.warning(`[pool ${this.name}] ${php.lockProblem}`);
    if (php.probeError !== null) this.ctx.log.warning(`[pool ${this.name}] php-cgi could not report its ini settings, assuming PHP's defaults: ${php.probeError.message.split('\n')[0]}`);
    this.requestEnv = new RequestEnv(php.paths, iso.chroot === null ? fsProbe : chrootProbe(iso.chroot), this.status !== null);
    if (this.status !== null) this.status.sapi = php.sapi;
    if (cfg.requestBuffering) {
      if (php.bodyLimits === null) this.ctx.log.warning(`[pool ${this.name}] tsfpm.request_buffering: the upload limits are unknown, request bodies are buffered but not checked`);
      this.bodies = new BodyBuffering(this.name, php.bodyLimits, path.join(this.ctx.rundir, 'bodies'), this.ctx.log);
    }
    this.access = AccessLog.forPool(cfg, {
      settings: php.paths, probe: this.requestEnv.probe,
      defaultContentType: defaultContentType(php.sapi).trimEnd(), outputBuffering: php.outputBuffering,
      workerNotice: (pid, where) => {
        const line = truncatedNoticeLine(this.ctx.log.getLevel(), where);
        if (line !== null) this.workerSays(pid, [line]);
      },
      openFailed: (file, err) => this.ctx.log.syserror('error', `failed to open access log (${file})`, err),
    });
    let plan = php.plan;
    // `php-fpm: pool NAME` in ps (src/php/proc-title.ts); set at exec, free afterwards.
    const titled = titledPlan(plan, this.name);
    if (titled instanceof Error) this.ctx.log.debug(`[pool ${this.name}] children keep php-cgi's process title: ${titled.message}`);
    else plan = titled;
    plan = iso.wrap(plan);
    if (SETPRIV === null && creds !== null) {
      this.ctx.log.warning(`[pool ${this.name}] setpriv (util-linux) not found: children run as uid ${creds.uid} without supplementary groups`);
    }
    this.plan = plan;
    this.spawnOpts = { cwd: iso.cwd, catchOutput: cfg.catchWorkersOutput, ...(SETPRIV === null && creds !== null ? { uid: creds.uid, gid: creds.gid } : {}) };
    if (this.sharedMode) {
      fs.writeFileSync(path.join(iso.ownDir, 'whoami.php'), '<?php echo getmypid();', { mode: 0o644 });
      this.probe = whoamiRequest(path.join(iso.ownRef, 'whoami.php'));
      const sock = this.spawnParent();
      for (let i = 0; i < cfg.pmMaxChildren; i++) {
        const slot = new Child(++this.seq, sock, this, null, this.probe);
        slot.access = this.access?.forChild() ?? null;
        this.children.add(slot);
        this.childFree(slot);
        slot.warm();
      }
    } else {
      const n = initialChildren(cfg.pm, cfg.pmMaxChildren, cfg.pmStartServers);
      for (let i = 0; i < n; i++) this.spawnChild(false);
    }
    this.timer = setInterval(() => this.heartbeat(), 1000);
    this.timer.unref();
    this.watchdog?.start();
  }

  /** The shim's socket: fpm_get_status() answered from the master's counters, PHP_VALUE directives that could not be set logged once. */
  private openShimSocket(sockPath: string, creds: Credentials | null): ShimSocket {
    const notes = new IniParamNotes(this.name, (line) => this.ctx.log.warning(line));
    return new ShimSocket(sockPath, {
      status: () => {
        // From now on this pool keeps what the array shows exactly (durations, max active).
        this.tracked = true;
        const nowMs = Date.now();
        return renderPhp(collectStatus(this, { full: true, server: null, statusReq: null, nowMs, nowPerf: performance.now() }));
      },
      ini: (fields) => notes.note(fields),
    }, creds === null ? null : { uid: creds.uid, gid: creds.gid });
  }

  /**
   * Static pools share one php-cgi parent (PHP_FCGI_CHILDREN): one opcache and
   * copy-on-write memory for all workers (~2 MiB PSS each instead of ~8-12).
   * TSFPM_SHARED_PARENT=0 spawns every child on its own instead.
   */
  private get sharedMode(): boolean {
    return this.cfg.pm === 'static' && process.env.TSFPM_SHARED_PARENT !== '0';
  }

  private spawnParent(): string {
    const sockPath = path.join(this.ctx.rundir, `${this.name}.parent${++this.parentSeq}.sock`);
    const proc = launchPhpCgi(sockPath, this.plan, { ...this.spawnOpts, extraEnv: { PHP_FCGI_CHILDREN: String(this.cfg.pmMaxChildren) } });
    this.parent = proc;
    const pid = proc.pid ?? -1;
    const startedHr = process.hrtime.bigint();
    proc.on('error', () => { /* 'exit' follows */ });
    if (this.spawnOpts.catchOutput) {
      proc.stdout?.on('data', (d: Buffer) => this.output.write(pid, 'stdout', d));
      proc.stderr?.on('data', (d: Buffer) => this.output.write(pid, 'stderr', d));
      proc.stdout?.on('end', () => this.output.write(pid, 'stdout', null));
      proc.stderr?.on('end', () => this.output.write(pid, 'stderr', null));
    }
    proc.on('exit', (code, signal) => {
      try { fs.unlinkSync(sockPath); } catch { /* gone */ }
      if (this.parent !== proc) return;
      this.parent = null;
      const how = signal !== null ? `on signal ${os.constants.signals[signal] ?? 0} (${signal})` : `with code ${code ?? 0}`;
      if (this.state === 'normal') {
        this.ctx.log.warning(`[pool ${this.name}] php-cgi parent ${pid} exited ${how} after ${formatElapsed(startedHr)} seconds from start`);
        // Its workers go with it: their disappearance is not a crash of theirs.
        for (const c of this.children) if (c.pid > 0) this.orphans.add(c.pid);
        if (isCrashSignal(signal)) this.ctx.crashed?.();
        // Its workers have no parent-death signal and would live on under init,
        // serving old connections. php-cgi calls setsid() before it forks them,
        // so the parent's pid is their process group: end the whole group, not
        // the worker pids the slots have learnt (some not probed yet, some stale).
        // Each slot's connection then closes and the slot reconnects to the new parent.
        killGroup(pid);
        const next = this.spawnParent();
        for (const c of this.children) c.rebind(next);
      } else {
        this.ctx.log.debug(`[pool ${this.name}] php-cgi parent ${pid} exited ${how}`);
        // A stopped pool: its workers are idle (stopShared waited) or being
        // terminated. One that ignored the parent's SIGTERM, or that waits on
        // a connection the master still holds (after a reload the master lives
        // on), would stay under init for good: the group goes with the parent.
        killGroup(pid);
        this.children.clear();
        if (this.onEmpty !== null) this.onEmpty();
      }
    });
    this.applyPriority(pid);
    return sockPath;
  }

  private spawnChild(announce: boolean): Child | null {
    if (!this.ctx.mayStart()) {
      this.ctx.log.warning("The maximum number of processes has been reached. Please review your configuration and consider raising 'process.max'");
      return null;
    }
    const seq = ++this.seq;
    const sockPath = path.join(this.ctx.rundir, `${this.name}.${seq}.sock`);
    const child = new Child(seq, sockPath, this, launchPhpCgi(sockPath, this.plan, this.spawnOpts), null);
    child.access = this.access?.forChild() ?? null;
    this.applyPriority(child.pid);
    this.children.add(child);
    if (announce) this.ctx.log.notice(`[pool ${this.name}] child ${child.pid} started`);
    else this.ctx.log.debug(`[pool ${this.name}] child ${child.pid} started`);
    // Later, as a worker's own output arrives: after "ready to handle connections".
    setImmediate(() => this.workerSays(child.pid, [...this.startLines, ...workerStartLines(this.allowed)]));
    this.childFree(child);
    return child;
  }

  /** process.priority: workers' nice value, root only, best effort as in php-fpm. */
  private applyPriority(pid: number): void {
    if (!this.ctx.isRoot || this.cfg.processPriority === null || pid <= 0) return;
    try { os.setPriority(pid, this.cfg.processPriority); } catch { /* best effort */ }
  }

  private onConnection(sock: FrontSocket): void {
    if (this.state !== 'normal') { sock.destroy(); return; }
    if (this.allowed !== null && !isClientAllowed(this.allowed, sock.remoteAddress)) {
      // php-fpm's worker that accepted it says so; here the master refused it for the pool.
      this.workerSays(this.somePid(), [workerDropLine(sock.remoteAddress)]);
      sock.destroy();
      return;
    }
    const conn = new ClientConn(sock, this);
    // Buffering pools read every request at once: no child is held for it until it is whole.
    if (this.cfg.hidden || this.bodies !== null || (this.queued === 0 && this.hasIdle())) { sock.resume(); return; }
    // No child free: like php-fpm's backlog, the request stays in the kernel
    // until one is, and then streams straight to it (no copy held here).
    this.wait(conn);
  }

  /** Queues a request or an unread connection until a child is free. */
  private wait(entry: Request | ClientConn): void {
    this.queue.push(entry);
    if (this.queued > this.maxListenQueue) this.maxListenQueue = this.queued;
    if (this.cfg.pm === 'ondemand') this.ondemandSpawn();
    // Better than php-fpm, whose dynamic pool waits up to a second for its next
    // tick: the first request of a burst that finds no idle child runs the tick
    // at once. Later growth keeps php-fpm's pace (one early tick per period).
    else if (this.cfg.pm === 'dynamic' && !this.tickedEarly) { this.tickedEarly = true; this.maintain(); }
  }

  /** Gives a free child to a connection that waited unread, and starts reading it. */
  private reserveFor(conn: ClientConn, child: Child): void {
    this.reservations.add(conn);
    conn.reserved = child;
    conn.reservedAt = Date.now();
    child.reserve();
    this.activate(child);
    conn.sock.resume();
  }

  releaseReserved(conn: ClientConn): void {
    this.reservations.delete(conn);
    const child = conn.reserved;
    conn.reserved = null;
    if (child === null) return;
    child.unreserve();
    this.childFree(child);
  }

  // ---- RequestSink (web-server side)

  dispatch(req: Request): void {
    // A stopped pool serves only the requests it holds a child for.
    if (this.state !== 'normal' && !(req.client.reserved?.usable ?? false)) { this.handOff(req); return; }
    this.acceptedConn++;
    if (this.cfg.hidden) { this.replyLocally(req, statusListenReply(this.cfg, req)); return; }
    const uri = this.requestEnv.prepare(req);
    if (uri !== null && this.answerLocally(uri, req)) return;
    if (this.bodies !== null && req.body === null) {
      this.receiving.add(req);
      this.bodies.begin(req, this.heldOwner);
      return;
    }
    const reserved = req.client.reserved;
    if (reserved !== null) {
      req.client.reserved = null;
      this.reservations.delete(req.client);
      if (reserved.usable) {
        reserved.engage(req);
        this.activate(reserved);
        return;
      }
    }
    this.engageOrWait(req);
  }

  /** A request received whole (tsfpm.request_buffering): to a child now, or queued. */
  private heldReady(req: Request): void {
    // Stopped by a reload: the pool that replaced this one serves it (or passes it on, if replaced too).
    if (this.state !== 'normal' && this.successor !== null) {
      req.client.moveTo(this.successor);
      this.successor.heldReady(req);
      this.settleStopped();
      return;
    }
    this.engageOrWait(req);
  }

  /** To an idle child now, else to the FIFO. */
  private engageOrWait(req: Request): void {
    const child = this.takeIdle();
    if (child !== null) {
      child.engage(req);
      this.activate(child);
    } else this.wait(req);
  }

  /**
   * A stopped pool without a successor (QUIT) keeps its children for the
   * requests it was still receiving; once none is left, idle ones retire.
   */
  private settleStopped(): void {
    if (this.state === 'normal' || this.receiving.size > 0 || this.queued > 0) return;
    for (const c of [...this.children]) {
      if (c.state === 'idle' && c.req === null && !c.shared) { c.pmKilled = true; c.retire(); }
    }
  }

  /** Children must stay for requests still arriving (QUIT: no successor takes them). */
  private get holdsForReceiving(): boolean {
    return this.receiving.size > 0 && this.successor === null;
  }

  /** The status or ping page: answered here, no child engaged (ClientConn writes the reply). */
  private answerLocally(uri: string, req: Request): boolean {
    const reply = this.statusPage(uri, req, true);
    if (reply === null) return false;
    this.replyLocally(req, reply);
    return true;
  }

  private replyLocally(req: Request, reply: Buffer): void {
    req.pending = [];
    req.local = reply;
    this.access?.local(req, reply);
    if (req.client.reserved !== null) this.releaseReserved(req.client);
  }

  /**
   * The reply to `req` when php-fpm's request_uri `uri` names this pool's
   * status or ping page, else null. `ownSocket`: asked on the pool's own
   * socket, where php-fpm would have had a worker serve it (src/status/collect.ts),
   * not on pm.status_listen.
   */
  statusPage(uri: string, req: Request, ownSocket: boolean): Buffer | null {
    if (this.status === null || !this.status.matches(uri)) return null;
    const server = !ownSocket ? null : req.client.reserved ?? (this.hasIdle() ? this.idle[this.idle.length - 1] : null);
    return this.status.answer(uri, req, this, server);
  }

  /** The requests and unread connections waiting for a child now (status: listen queue). */
  listenQueue(): number {
    let n = 0;
    for (let i = this.qHead; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e instanceof ClientConn ? !e.isClosed : !e.aborted) n++;
    }
    return n;
  }

  get pathSettings(): PathSettings { return this.requestEnv.settings; }
  get pathProbe(): PathProbe { return this.requestEnv.probe; }

  /**
   * A child took a request or was held for a connection: the status page's
   * durations and max active processes. Only a pool whose figures are read
   * (a page, or once a script called fpm_get_status()) pays for the clock and the set.
   */
  private activate(child: Child): void {
    if (!this.tracked) return;
    const req = child.req;
    if (req !== null) req.startedAt = performance.now();
    this.busy.add(child);
    if (this.busy.size > this.maxActive) this.maxActive = this.busy.size;
  }

  /** The request a child ran (if any) is over: when, for the status page. */
  private deactivate(child: Child): void {
    this.busy.delete(child);
    const last = child.last;
    if (last !== null && last.finished && last.endedAt === 0) last.endedAt = performance.now();
  }

  abort(req: Request): void {
    // Queued requests are skipped when dequeued; a running one may need its child reset.
    req.child?.abortRequest(req);
    // A request held by the master (receiving or queued whole): its spool goes now.
    if (req.body !== null && req.child === null) {
      req.body.dispose();
      if (this.receiving.delete(req)) this.settleStopped();
    }
  }

  protocolError(conn: ClientConn, reason: string): void {
    const peer = conn.sock.remoteAddress ?? 'unix socket';
    this.ctx.log.warning(`[pool ${this.name}] closing FastCGI connection from ${peer}: ${reason}`);
  }

  private takeIdle(): Child | null {
    return this.hasIdle() ? this.idle.pop()! : null;
  }

  /** True when the idle stack's top is usable; drops stale entries on the way. */
  private hasIdle(): boolean {
    const idle = this.idle;
    while (idle.length > 0) {
      const c = idle[idle.length - 1];
      if (c.state === 'idle' && c.req === null) return true;
      idle.pop();
    }
    return false;
  }

  private nextQueued(): Request | ClientConn | null {
    while (this.qHead < this.queue.length) {
      const r = this.queue[this.qHead];
      this.queue[this.qHead++] = undefined as unknown as Request;
      if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) { this.queue = this.queue.slice(this.qHead); this.qHead = 0; }
      if (r instanceof ClientConn ? !r.isClosed : !r.aborted) return r;
    }
    return null;
  }

  get queued(): number { return this.queue.length - this.qHead; }

  private ondemandSpawn(): void {
    if (this.liveCount() >= this.cfg.pmMaxChildren) {
      if (!this.warnedMaxChildren) {
        this.ctx.log.warning(`[pool ${this.name}] server reached max_children setting (${this.cfg.pmMaxChildren}), consider raising it`);
        this.maxChildrenReached++;
        this.warnedMaxChildren = true;
      }
      return;
    }
    this.ctx.log.debug(`[pool ${this.name}] got accept without idle child available .... I forked`);
    this.spawnChild(false);
  }

  /** Children not on their way out; counted against pm.max_children and process.max. */
  liveCount(): number {
    let n = 0;
    for (const c of this.children) if (c.state !== 'exiting') n++;
    return n;
  }

  // ---- ChildOwner (php-cgi side)

  childFree(child: Child): void {
    if (this.tracked) this.deactivate(child);
    if (child.state !== 'idle') return;
    const max = this.cfg.pmMaxRequests;
    // Replaced when it exits, like php-fpm's pm.max_requests.
    if (max > 0 && child.requests >= max && child.retire()) return;
    const next = this.nextQueued();
    if (next instanceof ClientConn) {
      this.reserveFor(next, child);
      return;
    }
    if (next !== null) {
      child.engage(next);
      this.activate(child);
      return;
    }
    if (this.state !== 'normal') {
      if (this.holdsForReceiving) this.idle.push(child);
      else if (!child.shared) { child.pmKilled = true; child.retire(); }
      return;
    }
    if (this.cfg.pm === 'ondemand') this.warnedMaxChildren = false;
    this.idle.push(child);
  }

  childLost(child: Child): void {
    child.kill('SIGKILL');
  }

  workerGone(_child: Child, pid: number, end: WorkerEnd, startedHr: bigint, requests: number): void {
    // The php-cgi parent reaps its workers, so the exit status is not ours to see.
    const secs = formatElapsed(startedHr);
    if (end === 'retired') this.ctx.log.notice(`[pool ${this.name}] child ${pid} exited after ${secs} seconds from start (retired after ${requests} requests)`);
    else if (end === 'terminated') this.ctx.log.warning(terminatedExitLine(this.name, pid, secs));
    else if (this.state === 'normal') this.ctx.log.warning(`[pool ${this.name}] child ${pid} exited unexpectedly after ${secs} seconds from start`);
    // Its signal is the parent's to see: a worker gone unasked counts as a crash (emergency.ts).
    if (end === 'lost' && !this.orphans.delete(pid) && this.state === 'normal') this.ctx.crashed?.();
    this.output.close(pid);
  }

  workerStarted(child: Child, replacement: boolean): void {
    // As php-fpm: initial spawns at DEBUG, replacements at NOTICE.
    if (this.state === 'normal') this.ctx.log[replacement ? 'notice' : 'debug'](`[pool ${this.name}] child ${child.pid} started`);
    this.workerSays(child.pid, [...this.startLines, ...workerStartLines(this.allowed)]);
  }

  /**
   * Lines a php-fpm worker writes to its stderr about listen.allowed_clients
   * (bad addresses when it starts, a refused peer): tsfpm's master makes those
   * decisions, and logs them as php-fpm shows them, as that worker's output
   * when catch_workers_output is on (php-fpm discards them otherwise; tsfpm
   * keeps them at DEBUG).
   */
  /** A live worker's pid to speak for the pool: an idle one first, else any, else the shared parent. */
  private somePid(): number {
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i].pid > 0) return this.idle[i].pid;
    for (const c of this.children) if (c.pid > 0) return c.pid;
    return this.parent?.pid ?? -1;
  }

  private workerSays(pid: number, lines: string[]): void {
    if (lines.length === 0) return;
    if (this.cfg.catchWorkersOutput && pid > 0) this.output.says(pid, lines.map((l) => `${l}\n`).join(''));
    else for (const l of lines) this.ctx.log.debug(`[pool ${this.name}] ${l}`);
  }

  childOutput(child: Child, stream: 'stdout' | 'stderr', data: Buffer | null): void {
    this.output.write(child.pid, stream, data);
  }

  requestEnded(child: Child): void {
    if (!this.cfg.catchWorkersOutput) return;
    this.output.requestEnded(child.pid);
    // A shared parent's workers write into the parent's pipes (logged under its pid).
    if (child.shared && this.parent?.pid !== undefined) this.output.requestEnded(this.parent.pid);
  }

  phpMessages(child: Child): StderrMessages {
    const log = this.ctx.log;
    // php-fpm's workers write to /dev/null without catch_workers_output: the web server's copy only.
    const copy = this.cfg.catchWorkersOutput ? (kind: MessageKind, text: string) => this.output.phpMessage(child.pid, kind, text) : null;
    // The access log's mark from the shim (a late response code, PHP's peak memory: src/log/status-mark.ts).
    const mark = this.cfg.accessLog !== null && !this.cfg.hidden ? (text: string) => child.access?.mark(text) : null;
    return new StderrMessages(messageCap(log.getLimit(), log.getLevel()), copy, mark, this.stderrToClient);
  }

  childExited(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    this.children.delete(child);
    this.idleKills.delete(child);
    this.busy.delete(child);
    this.output.close(child.pid);
    const secs = formatElapsed(child.startedHr);
    const normal = this.state === 'normal';
    let level: 'notice' | 'warning' | 'debug';
    let msg: string;
    if (child.terminated && signal === 'SIGKILL') {
      msg = terminatedExitLine(this.name, child.pid, secs);
      level = 'warning';
    } else if (signal !== null) {
      const num = os.constants.signals[signal] ?? 0;
      msg = `[pool ${this.name}] child ${child.pid} exited on signal ${num} (${signal}) after ${secs} seconds from start`;
      level = signal === 'SIGQUIT' ? 'notice' : 'warning';
    } else {
      msg = `[pool ${this.name}] child ${child.pid} exited with code ${code ?? 0} after ${secs} seconds from start`;
      level = code === 0 ? 'notice' : 'warning';
    }
    if (!normal || child.pmKilled) level = 'debug';
    if (child.pmKilled && normal) {
      this.ctx.log.debug(`[pool ${this.name}] child ${child.pid} has been killed by the process management after ${secs} seconds from start`);
    }
    this.ctx.log[level](msg);
    if (normal && isCrashSignal(signal)) this.ctx.crashed?.();
    if (normal && !child.pmKilled) this.spawnChild(true);
    if (this.children.size === 0 && this.onEmpty !== null) this.onEmpty();
  }

  // ---- process manager tick

  /** The once-a-second tick. */
  private heartbeat(): void {
    this.tickedEarly = false;
    this.escalateIdleKills();
    this.maintain();
  }

  private maintain(): void {
    // A connection that was given a child but sends nothing gives it back.
    const stale = Date.now() - RESERVATION_MS;
    for (const conn of this.reservations) if (conn.reservedAt < stale) this.releaseReserved(conn);
    if (this.state !== 'normal') return;
    let oldest: Child | null = null;
    let idle = 0;
    let active = 0;
    for (const c of this.children) {
      if (c.state === 'busy') active++;
      if (c.state !== 'idle') continue;
      idle++;
      if (oldest === null || c.startedAt < oldest.startedAt) oldest = c;
    }
    // php-fpm updates "max active processes" in this tick too (fpm_scoreboard_update).
    if (active > this.maxActive) this.maxActive = active;
    // The dashboard's charts of the last minutes: a pool with a status page only.
    this.status?.history?.record(Date.now(), this.acceptedConn, active, this.listenQueue());
    const d = tick({
      style: this.cfg.pm, name: this.name, idle, total: this.liveCount(),
      maxChildren: this.cfg.pmMaxChildren, minSpare: this.cfg.pmMinSpareServers, maxSpare: this.cfg.pmMaxSpareServers,
      maxSpawnRate: this.cfg.pmMaxSpawnRate, spawnRate: this.spawnRate, warnedMaxChildren: this.warnedMaxChildren,
      oldestIdleAgeMs: oldest === null ? null : Date.now() - oldest.lastChange,
      idleTimeoutMs: this.cfg.pmProcessIdleTimeout * 1000,
    });
    this.spawnRate = d.spawnRate;
    this.warnedMaxChildren = d.warnedMaxChildren;
    if (d.maxChildrenReached) this.maxChildrenReached++;
    for (const w of d.warnings) this.ctx.log.warning(w);
    if (d.killOldestIdle && oldest !== null) {
      oldest.pmKilled = true;
      if (oldest.retire() && oldest.proc !== null) this.idleKills.add(oldest);
    }
    for (let i = 0; i < d.spawn; i++) this.spawnChild(false);
  }

  /**
   * php-fpm's idle kill is a SIGQUIT, then a SIGKILL at the next tick if the
   * child is still there (bug77023: a script that blocked the signal). That
   * child then counts as lost, not as retired: logged and replaced.
   */
  private escalateIdleKills(): void {
    if (this.idleKills.size === 0) return;
    for (const c of this.idleKills) {
      if (this.children.has(c) && this.state === 'normal') {
        c.pmKilled = false;
        c.kill('SIGKILL');
      }
    }
    this.idleKills.clear();
  }

  // ---- reload (src/control/reload.ts)

  /** The pool that took over this one's socket or name at a reload. */
  successor: Pool | null = null;

  /**
   * A request arriving at a stopped pool (a kept-alive connection's next
   * request, a connection read after the reload): its connection moves to the
   * successor for good. Without one the pool is gone, and so is the connection.
   */
  private handOff(req: Request): void {
    if (req.client.reserved !== null) this.releaseReserved(req.client);
    const next = this.successor;
    if (next === null) { req.client.sock.destroy(); return; }
    req.client.moveTo(next);
    next.dispatch(req);
  }

  /** Gives up the listening socket without closing it. */
  releaseListener(): Listener | null {
    const l = this.listener;
    this.listener = null;
    return l;
  }

  /** Requests and unread connections waiting for a child, oldest first; the queue is left empty. */
  takeQueue(): (Request | ClientConn)[] {
    const out: (Request | ClientConn)[] = [];
    for (let e = this.nextQueued(); e !== null; e = this.nextQueued()) out.push(e);
    return out;
  }

  /** What the replaced pool had waiting, served before anything that arrives later (call after start()). */
  adoptQueue(entries: (Request | ClientConn)[]): void {
    for (const e of entries) {
      const conn = e instanceof ClientConn ? e : e.client;
      conn.moveTo(this);
      const child = this.queued === 0 ? this.takeIdle() : null;
      if (child === null) this.wait(e);
      else if (e instanceof ClientConn) this.reserveFor(e, child);
      else {
        child.engage(e);
        this.activate(child);
      }
    }
  }

  /** No request running or waiting and no child held for a connection. */
  get quiet(): boolean {
    if (this.queued > 0 || this.reservations.size > 0 || this.receiving.size > 0) return false;
    for (const c of this.children) if (c.req !== null) return false;
    return true;
  }

  // ---- lifecycle

  /** Stops accepting; with graceful, queued and running requests finish first. */
  stop(graceful: boolean): Promise<void> {
    this.state = graceful ? 'finishing' : 'terminating';
    this.listener?.server.close();
    // The tick keeps running until the pool is empty: it still frees children
    // reserved for connections that never speak.
    const done = (this.parent !== null ? this.stopShared(graceful) : this.stopStandalone(graceful));
    return done.finally(() => {
      if (this.timer !== null) clearInterval(this.timer);
      this.watchdog?.stop();
      this.access?.close();
      this.access = null;
      this.shimSocket?.close();
    });
  }

  private stopStandalone(graceful: boolean): Promise<void> {
    return new Promise((resolve) => {
      if (this.children.size === 0) { resolve(); return; }
      this.onEmpty = resolve;
      for (const c of [...this.children]) {
        c.pmKilled = true;
        if (!graceful) c.kill('SIGTERM');
        else if (c.state === 'idle' && this.queued === 0 && !this.holdsForReceiving) c.retire();
      }
    });
  }

  /** Shared mode: once no request runs, SIGTERM the parent (it takes its workers along). */
  private stopShared(graceful: boolean): Promise<void> {
    const parent = this.parent!;
    return new Promise((resolve) => {
      this.onEmpty = resolve;
      const busy = (): boolean => this.queued > 0 || this.holdsForReceiving || [...this.children].some((c) => c.state === 'busy');
      const end = (): void => { try { parent.kill('SIGTERM'); } catch { /* gone */ } };
      if (!graceful || !busy()) { end(); return; }
      const poll = setInterval(() => { if (!busy()) { clearInterval(poll); end(); } }, 50);
    });
  }

  /** After a stop: the hard way for children that outlived process_control_timeout. */
  killAll(): void {
    for (const c of this.children) c.kill('SIGKILL');
    // The shared parent with its workers (a parent killed alone would orphan them).
    if (this.parent?.pid !== undefined) killGroup(this.parent.pid);
    try { this.parent?.kill('SIGKILL'); } catch { /* gone */ }
  }

  /** Removes the unix socket file (clean exit). */
  closeListener(): void {
    this.listener?.close();
  }
}

/** openListener's options for a pool's `listen` (throws ListenAddressError for a bad port). */
export function listenOptions(cfg: PoolConfig, log?: ListenLog): ListenOptions {
  return {
    pool: cfg.name, address: parseListen(cfg.listen, cfg.prefix), backlog: cfg.listenBacklog,
    owner: cfg.listenOwner, group: cfg.listenGroup, mode: cfg.listenMode,
    aclUsers: cfg.listenAclUsers, aclGroups: cfg.listenAclGroups, ...(log !== undefined ? { log } : {}),
  };
}

/** The shim socket's file name: the pool's, or a hash of it where the path would pass sun_path's 108 bytes. */
function shimSocketName(pool: string, dir: string): string {
  const name = `${pool}.shim.sock`;
  if (Buffer.byteLength(path.join(dir, name)) < 100) return name;
  return `shim-${createHash('sha1').update(pool).digest('hex').slice(0, 16)}.sock`;
}

/** SIGKILLs process group `pgid` (a shared php-cgi parent's, see spawnParent). */
function killGroup(pgid: number): void {
  if (pgid <= 0) return;
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* no such group: the parent died before setsid(), so no worker yet */ }
}

/** php-fpm's line for a worker its request_terminate_timeout SIGTERM killed (tsfpm's SIGKILL: Child.terminate). */
function terminatedExitLine(pool: string, pid: number, secs: string): string {
  return `[pool ${pool}] child ${pid} exited on signal 15 (SIGTERM) after ${secs} seconds from start`;
}

function formatElapsed(startHr: bigint): string {
  const us = (process.hrtime.bigint() - startHr) / 1000n;
  return `${us / 1000000n}.${String(us % 1000000n).padStart(6, '0')}`;
}
