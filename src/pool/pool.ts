// One pool: its listening socket, its php-cgi children, the FIFO of requests
// waiting for an idle child, and its process manager's tick.
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PoolConfig } from '../config/types.js';
import type { ErrorLog } from '../log/error-log.js';
import { parseListen, parseAllowedClients, isClientAllowed, type AllowedClients } from '../net/address.js';
import { openListener, type Listener } from '../net/listener.js';
import { buildSpawnPlan, type InterpreterOptions, type SpawnPlan } from '../php/spawn-plan.js';
import { buildShim } from '../php/shim.js';
import { lookupGroup, lookupUser } from '../platform/users.js';
import { ClientConn, type RequestSink } from './client-conn.js';
import { Child, type ChildOwner } from './child.js';
import type { Request } from './request.js';
import { tick, initialChildren } from './pm.js';
import { WorkerOutput } from './worker-output.js';

export interface PoolContext {
  log: ErrorLog;
  php: InterpreterOptions;
  rundir: string;          // root-only directory for the children's private sockets
  isRoot: boolean;
}

export type PoolState = 'normal' | 'finishing' | 'terminating';

export class Pool implements RequestSink, ChildOwner {
  readonly name: string;
  state: PoolState = 'normal';
  readonly startedAt = Date.now();
  readonly children = new Set<Child>();
  private idle: Child[] = [];
  private queue: Request[] = [];
  private qHead = 0;
  private listener: Listener | null = null;
  private allowed: AllowedClients | null = null;
  private plan!: SpawnPlan;
  private spawnOpts: { cwd?: string; catchOutput: boolean; uid?: number; gid?: number } = { catchOutput: false };
  private seq = 0;
  private spawnRate = 1;
  private warnedMaxChildren = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly output: WorkerOutput;
  private onEmpty: (() => void) | null = null;
  // Counters for the status page.
  acceptedConn = 0;
  maxActive = 0;
  maxChildrenReached = 0;

  constructor(readonly cfg: PoolConfig, private readonly ctx: PoolContext) {
    this.name = cfg.name;
    this.output = new WorkerOutput(ctx.log, cfg.name, cfg.decorateWorkersOutput);
  }

  /** Opens the listening socket; throws ListenError/ListenAddressError with php-fpm's message. */
  async listen(): Promise<void> {
    const address = parseListen(this.cfg.listen, this.cfg.prefix);
    this.allowed = address.kind === 'tcp' ? parseAllowedClients(this.cfg.listenAllowedClients) : null;
    for (const w of this.allowed?.warnings ?? []) this.ctx.log.error(w);
    this.listener = await openListener({
      pool: this.name, address, backlog: this.cfg.listenBacklog,
      owner: this.cfg.listenOwner, group: this.cfg.listenGroup, mode: this.cfg.listenMode,
      aclUsers: this.cfg.listenAclUsers, aclGroups: this.cfg.listenAclGroups,
    });
    this.listener.server.on('connection', (sock) => this.onConnection(sock));
  }

  /** Prepares the spawn plan and starts the initial children and the PM tick. */
  start(): void {
    const cfg = this.cfg;
    const shimPath = path.join(this.ctx.rundir, `${this.name}.prepend.php`);
    const userPrepend = cfg.phpAdminValues.auto_prepend_file ?? cfg.phpValues.auto_prepend_file ?? null;
    fs.writeFileSync(shimPath, buildShim({ limitExtensions: cfg.securityLimitExtensions, userPrependFile: userPrepend || null }), { mode: 0o644 });
    let userEnv: { USER?: string; HOME?: string } = {};
    let plan: SpawnPlan;
    if (this.ctx.isRoot && cfg.user !== null) {
      const u = lookupUser(cfg.user);
      const g = cfg.group !== null ? lookupGroup(cfg.group) : null;
      if (u !== null) {
        userEnv = { USER: u.name, HOME: u.home };
        const gid = g?.gid ?? u.gid;
        plan = buildSpawnPlan(cfg, this.ctx.php, shimPath, process.env, userEnv);
        // setpriv keeps supplementary groups (initgroups); libuv's uid/gid spawn drops them.
        plan = { command: 'setpriv', args: ['--reuid', String(u.uid), '--regid', String(gid), '--init-groups', '--', plan.command, ...plan.args], env: plan.env };
      } else {
        plan = buildSpawnPlan(cfg, this.ctx.php, shimPath, process.env, userEnv);
      }
    } else {
      plan = buildSpawnPlan(cfg, this.ctx.php, shimPath, process.env, userEnv);
    }
    this.plan = plan;
    this.spawnOpts = { cwd: cfg.chdir ?? undefined, catchOutput: cfg.catchWorkersOutput };
    const n = initialChildren(cfg.pm, cfg.pmMaxChildren, cfg.pmStartServers);
    for (let i = 0; i < n; i++) this.spawnChild(false);
    this.timer = setInterval(() => this.maintain(), 1000);
    this.timer.unref();
  }

  private spawnChild(announce: boolean): Child {
    const seq = ++this.seq;
    const sockPath = path.join(this.ctx.rundir, `${this.name}.${seq}.sock`);
    const tmp = `${sockPath}.tmp`;
    // A plain listening socket: php-cgi accepts on its fd 0. Bound synchronously by
    // creating the handle through a net.Server; renamed so that closing our copy
    // (libuv unlinks the bound name) keeps the path for reconnects.
    const srv = net.createServer();
    srv.listen({ path: tmp, backlog: 16 });
    const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
    fs.renameSync(tmp, sockPath);
    const child = new Child(seq, sockPath, fd, this.plan, this.spawnOpts, this);
    srv.close();
    if (this.ctx.isRoot && this.cfg.processPriority !== null && child.pid > 0) {
      try { os.setPriority(child.pid, this.cfg.processPriority); } catch { /* best effort, as fpm */ }
    }
    this.children.add(child);
    if (announce) this.ctx.log.notice(`[pool ${this.name}] child ${child.pid} started`);
    else this.ctx.log.debug(`[pool ${this.name}] child ${child.pid} started`);
    this.childFree(child);
    return child;
  }

  private onConnection(sock: net.Socket): void {
    if (this.state !== 'normal') { sock.destroy(); return; }
    if (this.allowed !== null && !isClientAllowed(this.allowed, sock.remoteAddress)) {
      const ip = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
      this.ctx.log.error(`Connection disallowed: IP address '${ip}' has been dropped.`);
      sock.destroy();
      return;
    }
    new ClientConn(sock, this);
  }

  // ---- RequestSink (web-server side)

  dispatch(req: Request): void {
    this.acceptedConn++;
    const child = this.takeIdle();
    if (child !== null) {
      child.engage(req);
      this.noteActive();
      return;
    }
    this.queue.push(req);
    if (this.cfg.pm === 'ondemand') this.ondemandSpawn();
  }

  abort(req: Request): void {
    // Queued requests are skipped when dequeued; a running one may need its child reset.
    req.child?.abortRequest(req);
  }

  protocolError(conn: ClientConn, reason: string): void {
    const peer = conn.sock.remoteAddress ?? 'unix socket';
    this.ctx.log.warning(`[pool ${this.name}] closing FastCGI connection from ${peer}: ${reason}`);
  }

  private takeIdle(): Child | null {
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (c.state === 'idle' && c.req === null) return c;
    }
    return null;
  }

  private nextQueued(): Request | null {
    while (this.qHead < this.queue.length) {
      const r = this.queue[this.qHead];
      this.queue[this.qHead++] = undefined as unknown as Request;
      if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) { this.queue = this.queue.slice(this.qHead); this.qHead = 0; }
      if (!r.aborted) return r;
    }
    return null;
  }

  get queued(): number { return this.queue.length - this.qHead; }
  get idleCount(): number { let n = 0; for (const c of this.children) if (c.state === 'idle') n++; return n; }
  get activeCount(): number { let n = 0; for (const c of this.children) if (c.state === 'busy') n++; return n; }

  private noteActive(): void {
    const a = this.activeCount;
    if (a > this.maxActive) this.maxActive = a;
  }

  private ondemandSpawn(): void {
    const live = this.liveCount();
    const starting = 0;
    if (live + starting >= this.cfg.pmMaxChildren) {
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

  private liveCount(): number {
    let n = 0;
    for (const c of this.children) if (c.state !== 'exiting') n++;
    return n;
  }

  // ---- ChildOwner (php-cgi side)

  childFree(child: Child): void {
    if (child.state !== 'idle') return;
    const max = this.cfg.pmMaxRequests;
    if (max > 0 && child.requests >= max) {
      child.retire(); // replaced when it exits, like php-fpm's pm.max_requests
      return;
    }
    const next = this.nextQueued();
    if (next !== null) {
      child.engage(next);
      this.noteActive();
      return;
    }
    if (this.state !== 'normal') { child.pmKilled = true; child.retire(); return; }
    if (this.cfg.pm === 'ondemand') this.warnedMaxChildren = false;
    this.idle.push(child);
  }

  childLost(child: Child): void {
    child.kill('SIGKILL');
  }

  childOutput(child: Child, stream: 'stdout' | 'stderr', data: Buffer): void {
    this.output.write(child.pid, stream, data);
  }

  childExited(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    this.children.delete(child);
    this.output.close(child.pid);
    const secs = formatElapsed(child.startedHr);
    const normal = this.state === 'normal';
    let level: 'notice' | 'warning' | 'debug';
    let msg: string;
    if (signal !== null) {
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
    if (normal && !child.pmKilled) this.spawnChild(true);
    if (this.children.size === 0 && this.onEmpty !== null) this.onEmpty();
  }

  // ---- process manager tick

  private maintain(): void {
    if (this.state !== 'normal') return;
    let oldest: Child | null = null;
    let idle = 0;
    for (const c of this.children) {
      if (c.state !== 'idle') continue;
      idle++;
      if (oldest === null || c.startedAt < oldest.startedAt) oldest = c;
    }
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
      oldest.retire();
    }
    for (let i = 0; i < d.spawn; i++) this.spawnChild(false);
  }

  // ---- lifecycle

  /** Stops accepting; with graceful, queued and running requests finish first. */
  stop(graceful: boolean): Promise<void> {
    this.state = graceful ? 'finishing' : 'terminating';
    if (this.timer !== null) clearInterval(this.timer);
    this.listener?.server.close();
    return new Promise((resolve) => {
      if (this.children.size === 0) { resolve(); return; }
      this.onEmpty = resolve;
      for (const c of [...this.children]) {
        c.pmKilled = true;
        if (!graceful) c.kill('SIGTERM');
        else if (c.state === 'idle' && this.queued === 0) c.retire();
      }
    });
  }

  /** After a stop: the hard way for children that outlived process_control_timeout. */
  killAll(): void {
    for (const c of this.children) c.kill('SIGKILL');
  }

  /** Removes the unix socket file (clean exit). */
  closeListener(): void {
    this.listener?.close();
  }
}

function formatElapsed(startHr: bigint): string {
  const us = (process.hrtime.bigint() - startHr) / 1000n;
  return `${us / 1000000n}.${String(us % 1000000n).padStart(6, '0')}`;
}
