// Opens a pool's listening socket (the I/O edge of src/net). Unix sockets get
// their owner/group/mode before any client can connect: bind a temporary name,
// chmod/chown it, then rename() it onto the final path.
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ListenAddress } from './address.js';
import { LOOKUP_ERRNO, strerrorSuffix, type LogLevel } from '../log/error-log.js';
import { lookupGroup, lookupUser } from '../platform/users.js';

export class ListenError extends Error {
  readonly code = 'TSFPM_ERR_LISTEN';
}

export interface ListenOptions {
  pool: string;
  address: ListenAddress;
  backlog: number;                 // -1 = kernel maximum
  owner: string | null;
  group: string | null;
  mode: string | null;             // octal text, default 0660
  aclUsers: string | null;
  aclGroups: string | null;
  /** Defaults to the one set with setListenLog(). */
  log?: ListenLog;
}

/** Where openListener's own log lines go (php-fpm logs them while making its sockets). */
export type ListenLog = (level: LogLevel, msg: string) => void;

let defaultLog: ListenLog | null = null;

/** The master's error log, for listeners opened without a `log` of their own. */
export function setListenLog(log: ListenLog | null): void { defaultLog = log; }

export interface Listener {
  server: net.Server;
  address: ListenAddress;
  /** Closes the socket and, for unix sockets, removes the file (php-fpm does on clean exit). */
  close(): void;
}

// Node maps backlog 0 to its default 511; -1 lets the kernel clamp to somaxconn like php-fpm.
const nodeBacklog = (b: number): number => (b < 0 ? 65535 : b === 0 ? 1 : b);

function listenOnce(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { server.removeListener('listening', onListening); reject(err); };
    const onListening = (): void => { server.removeListener('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(opts);
  });
}

function bindError(text: string, err: unknown): ListenError {
  return new ListenError(`unable to bind listening socket for address '${text}'${strerrorSuffix(err as NodeJS.ErrnoException)}`);
}

async function isSomeoneListening(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function openListener(o: ListenOptions): Promise<Listener> {
  const server = net.createServer({ noDelay: true });
  const a = o.address;
  if (a.kind === 'tcp') {
    const backlog = nodeBacklog(o.backlog);
    try {
      if (a.host === null) {
        // php-fpm: `::` (IPv6 and v4-mapped) first, its error silenced; whatever
        // the failure, a NOTICE and a second try on 0.0.0.0, whose error counts.
        try {
          await listenOnce(server, { host: '::', port: a.port, backlog, ipv6Only: false });
        } catch {
          (o.log ?? defaultLog)?.('notice', 'Failed implicitly binding to ::, retrying with 0.0.0.0');
          await listenOnce(server, { host: '0.0.0.0', port: a.port, backlog });
        }
      } else {
        await listenOnce(server, { host: a.host, port: a.port, backlog });
      }
    } catch (err) {
      throw bindError(a.text, err);
    }
    return { server, address: a, close: () => { server.close(); } };
  }

  const final = a.path;
  // Like php-fpm, owner and group are resolved before the socket exists.
  const ids = resolveSocketIds(o);
  if (fs.existsSync(final)) {
    if (await isSomeoneListening(final)) throw new ListenError(`Another FPM instance seems to already listen on ${final}`);
    try { fs.unlinkSync(final); } catch { /* bind below reports the real problem */ }
  }
  const tmp = path.join(path.dirname(final), `.${path.basename(final)}.${process.pid}.tmp`);
  try { fs.unlinkSync(tmp); } catch { /* not there */ }
  try {
    await listenOnce(server, { path: tmp, backlog: nodeBacklog(o.backlog) });
  } catch (err) {
    // libuv reports a missing directory as EACCES; bind(2) itself says ENOENT.
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' && !fs.existsSync(path.dirname(final))) {
      throw bindError(final, Object.assign(new Error('no such directory'), { code: 'ENOENT', errno: -2 }));
    }
    throw bindError(final, err);
  }
  try {
    applySocketPermissions(tmp, final, o, ids);
    fs.renameSync(tmp, final);
  } catch (err) {
    server.close();
    try { fs.unlinkSync(tmp); } catch { /* already gone */ }
    if (err instanceof ListenError) throw err;
    throw new ListenError(`[pool ${o.pool}] failed to prepare unix socket '${final}'${strerrorSuffix(err as NodeJS.ErrnoException)}`);
  }
  return {
    server,
    address: a,
    close: () => {
      server.close();
      try { fs.unlinkSync(final); } catch { /* already gone */ }
    },
  };
}

interface SocketIds { uid: number; gid: number }   // -1 = leave as is

/**
 * php-fpm's fpm_unix_resolve_socket_permissions(): digits are ids, used
 * without a lookup; an owner name also gives its primary group; a name that
 * does not resolve is an error (with the lookup's errno). null = ACLs instead.
 */
function resolveSocketIds(o: ListenOptions): SocketIds | null {
  const set = (v: string | null): v is string => v !== null && v !== '';
  if (set(o.aclUsers) || set(o.aclGroups)) {
    const log = o.log ?? defaultLog;
    if (set(o.owner)) log?.('warning', `[pool ${o.pool}] ACL set, listen.owner = '${o.owner}' is ignored`);
    if (set(o.group)) log?.('warning', `[pool ${o.pool}] ACL set, listen.group = '${o.group}' is ignored`);
    return null;
  }
  const ids = { uid: -1, gid: -1 };
  if (set(o.owner)) {
    if (isId(o.owner)) ids.uid = Number(o.owner);
    else {
      const u = lookupUser(o.owner);
      if (!u) throw new ListenError(`[pool ${o.pool}] cannot get uid for user '${o.owner}'${strerrorSuffix(LOOKUP_ERRNO)}`);
      ids.uid = u.uid;
      ids.gid = u.gid;
    }
  }
  if (set(o.group)) {
    if (isId(o.group)) ids.gid = Number(o.group);
    else {
      const g = lookupGroup(o.group);
      if (!g) throw new ListenError(`[pool ${o.pool}] cannot get gid for group '${o.group}'${strerrorSuffix(LOOKUP_ERRNO)}`);
      ids.gid = g.gid;
    }
  }
  return ids;
}

function applySocketPermissions(p: string, final: string, o: ListenOptions, ids: SocketIds | null): void {
  const mode = o.mode === null ? 0o660 : parseInt(o.mode, 8);
  if (Number.isNaN(mode)) throw new ListenError(`[pool ${o.pool}] cannot set listen.mode '${o.mode}'`);
  fs.chmodSync(p, mode);
  if (ids === null) {
    // POSIX ACLs replace owner/group, as in php-fpm builds with ACL support.
    const entries: string[] = [];
    for (const u of (o.aclUsers ?? '').split(',').filter(Boolean)) entries.push(`u:${u.trim()}:rw`);
    for (const g of (o.aclGroups ?? '').split(',').filter(Boolean)) entries.push(`g:${g.trim()}:rw`);
    try {
      execFileSync('setfacl', ['-m', entries.join(','), p], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new ListenError(`[pool ${o.pool}] failed to set ACL on '${p}' (needs setfacl from the acl package): ${(err as Error).message.split('\n')[0]}`);
    }
    return;
  }
  // chown() whoever runs the master: a non-root master may give the socket its own ids only.
  if (ids.uid === -1 && ids.gid === -1) return;
  try {
    fs.chownSync(p, ids.uid, ids.gid);
  } catch (err) {
    throw new ListenError(`[pool ${o.pool}] failed to chown() the socket '${final}'${strerrorSuffix(err as NodeJS.ErrnoException)}`);
  }
}

const isId = (s: string): boolean => /^\d+$/.test(s);
