// Post-processing (reference §2 "Post-process errors", §1 "Root"): defaults that
// depend on other values, path resolution against prefixes, and php-fpm's
// consistency rules, in php-fpm's order and words. Pure: the file system and
// the user database come through ValidateHost.
import { AVAILABLE_MECHANISMS } from './directives.js';
import type { ConfigMessage, ParsedConfig } from './parse.js';
import type { FpmConfig, PoolConfig } from './types.js';
import { LOOKUP_ERRNO } from '../log/error-log.js';
import { compileAccessFormat } from '../log/access-format.js';

export interface ValidateHost {
  prefix: string | null;                          // -p
  euid: number;
  allowRoot: boolean;                             // -R
  test: boolean;                                  // -t: the root refusal is not checked
  isDir(path: string): boolean;
  /** Create/append-open then close (error_log, access.log, slowlog), 0600; throws ErrnoException. */
  touchAppend(path: string): void;
  lookupUser(nameOrUid: string): { uid: number; gid: number } | null;
  lookupGroup(nameOrGid: string): number | null;
}

/**
 * `post` = `failed to post process the configuration` follows; `init` = only
 * `FPM initialization failed` (php-fpm checks users in a later init stage).
 */
export type ValidateResult =
  | ({ ok: true; config: FpmConfig; messages: ConfigMessage[] } & LogSwitch)
  | ({ ok: false; stage: 'post' | 'init'; messages: ConfigMessage[] } & LogSwitch);

/**
 * Where php-fpm's post-processing changes its own logging, as indexes into
 * `messages` (absent when it failed before): from `levelAt` on, log_level and
 * log_limit apply; from `openAt` on, error_log is open and messages go where
 * the configuration sends them (not only to stderr).
 */
export interface LogSwitch { levelAt?: number; openAt?: number }

// php values whose relative paths get the pool prefix (fpm_conf.c's list).
const PATH_INI_KEYS = new Set([
  'error_log', 'extension_dir', 'sendmail_path', 'session.cookie_path', 'soap.wsdl_cache_dir',
  'xdebug.output_dir', 'xdebug.profiler_output_dir', 'xdebug.trace_output_dir', 'xdebug.log',
]);

export const DEFAULT_ACCESS_FORMAT = '%R - %u %t "%m %r" %s';

class Fail extends Error { constructor(readonly stage: 'post' | 'init') { super(stage); } }

/** Relative → `<base>/<value>`; php-fpm joins with '/' even when base ends with one. */
const full = (value: string, base: string): string => (value.startsWith('/') ? value : `${base}/${value}`);

export function validateConfig(parsed: ParsedConfig, path: string, host: ValidateHost): ValidateResult {
  const messages: ConfigMessage[] = [];
  const g = parsed.global;
  const say = (level: ConfigMessage['level'], text: string, syserr?: NodeJS.ErrnoException): void => {
    messages.push(syserr ? { level, text, syserr } : { level, text });
  };
  const fail = (level: ConfigMessage['level'], text: string, stage: 'post' | 'init' = 'post', syserr?: NodeJS.ErrnoException): never => {
    say(level, text, syserr);
    throw new Fail(stage);
  };
  const pools: PoolConfig[] = [];
  const sw: LogSwitch = {};
  try {
    if (host.prefix !== null && !host.isDir(host.prefix)) {
      fail('error', `the global prefix '${host.prefix}' does not exist or is not a directory`);
    }
    const varBase = host.prefix ?? '/var';
    if (g.pid !== null && g.pid !== '') g.pid = full(g.pid, varBase);
    else g.pid = null;
    if (g.errorLog !== 'syslog') g.errorLog = full(g.errorLog, varBase);
    sw.levelAt = messages.length;
    if (g.logLimit < 512) fail('error', 'log_limit must be greater than 512');
    if (g.errorLog !== 'syslog') {
      try { host.touchAppend(g.errorLog); } catch (e) {
        fail('error', `failed to open error_log (${g.errorLog})`, 'post', e as NodeJS.ErrnoException);
      }
    }
    sw.openAt = messages.length;
    if (g.eventsMechanism !== null && !AVAILABLE_MECHANISMS.includes(g.eventsMechanism)) {
      fail('error', `event mechanism '${g.eventsMechanism}' is not available on this system`);
    }
    if (g.processMax < 0) fail('error', "process_max can't be negative");
    if (parsed.pools.length === 0) fail('error', 'No pool defined. at least one pool section must be specified in config file');

    for (const wp of parsed.pools) {
      const set = parsed.explicit.get(wp) ?? new Set<string>();
      poolRules(wp, set, host, say, fail);
      const dup = pools.find((o) => o.listen === wp.listen);
      if (dup) fail('error', `[pool ${wp.name}] unable to set listen address as it's already used in another pool '${dup.name}'`);
      pools.push(wp);
      if (wp.pmStatusListen !== null) pools.push(statusPool(wp));
    }
    accessLogRules(pools, host, say, fail);
    for (const wp of pools) unixRules(wp, host, say, fail);
  } catch (e) {
    if (e instanceof Fail) return { ok: false, stage: e.stage, messages, ...sw };
    throw e;
  }
  return { ok: true, config: { path, prefix: host.prefix, global: g, pools }, messages, ...sw };
}

type Say = (level: ConfigMessage['level'], text: string, syserr?: NodeJS.ErrnoException) => void;
type FailFn = (level: ConfigMessage['level'], text: string, stage?: 'post' | 'init', syserr?: NodeJS.ErrnoException) => never;

function poolRules(wp: PoolConfig, set: Set<string>, host: ValidateHost, say: Say, fail: FailFn): void {
  const P = `[pool ${wp.name}]`;
  const globalBase = host.prefix ?? '/usr';
  if (wp.prefix !== null && wp.prefix !== '') {
    wp.prefix = full(wp.prefix, globalBase);
    if (!host.isDir(wp.prefix)) fail('error', `${P} the prefix '${wp.prefix}' does not exist or is not a directory`);
  } else wp.prefix = null;
  const base = wp.prefix ?? globalBase;
  if (host.euid === 0 && (wp.user === null || wp.user === '') && !host.allowRoot) {
    fail('alert', `${P} user has not been defined`);
  }

  if (wp.listen === '') fail('alert', `${P} no listen address have been defined!`);
  if (!isTcp(wp.listen)) wp.listen = full(wp.listen, base);
  if (wp.processPriority !== null && (wp.processPriority < -19 || wp.processPriority > 20)) {
    fail('error', `${P} process.priority must be included into [-19,20]`);
  }
  if (!set.has('pm')) fail('alert', `${P} the process manager is missing (static, dynamic or ondemand)`);
  if (wp.pmMaxChildren < 1) fail('alert', `${P} pm.max_children must be a positive value`);
  if (wp.pm === 'dynamic') {
    const { pmMinSpareServers: min, pmMaxSpareServers: max, pmMaxChildren: children } = wp;
    if (min <= 0) fail('alert', `${P} pm.min_spare_servers(${min}) must be a positive value`);
    if (max <= 0) fail('alert', `${P} pm.max_spare_servers(${max}) must be a positive value`);
    if (min > children || max > children) {
      fail('alert', `${P} pm.min_spare_servers(${min}) and pm.max_spare_servers(${max}) cannot be greater than pm.max_children(${children})`);
    }
    if (max < min) fail('alert', `${P} pm.max_spare_servers(${max}) must not be less than pm.min_spare_servers(${min})`);
    if (wp.pmStartServers <= 0) {
      wp.pmStartServers = min + Math.trunc((max - min) / 2);
      say('notice', `${P} pm.start_servers is not set. It's been set to ${wp.pmStartServers}.`);
    }
    if (wp.pmStartServers < min || wp.pmStartServers > max) {
      fail('alert', `${P} pm.start_servers(${wp.pmStartServers}) must not be less than pm.min_spare_servers(${min}) and not greater than pm.max_spare_servers(${max})`);
    }
    if (wp.pmMaxSpawnRate < 1) fail('alert', `${P} pm.max_spawn_rate must be a positive value`);
  } else if (wp.pm === 'ondemand') {
    if (wp.pmProcessIdleTimeout < 1) {
      fail('alert', `${P} pm.process_idle_timeout(${wp.pmProcessIdleTimeout}s) must be greater than 0s`);
    }
  }

  if (wp.pmStatusListen !== null && wp.pmStatusPath === null) wp.pmStatusPath = '/';
  checkUrlPath(P, 'status', wp.pmStatusPath, wp.pmStatusListen !== null, fail);
  checkUrlPath(P, 'ping', wp.pingPath, false, fail);
  if (wp.pingPath !== null) {
    wp.pingResponse ??= 'pong';
    if (wp.pingResponse.length < 1) fail('error', `${P} the ping response page '${wp.pingResponse}' is not long enough`);
  } else wp.pingResponse = null;

  if (wp.accessLog !== null && wp.accessLog !== '') {
    wp.accessLog = full(wp.accessLog, base);
    wp.accessFormat ??= DEFAULT_ACCESS_FORMAT;
  } else wp.accessLog = null;

  if (wp.slowlog !== null && wp.slowlog !== '') wp.slowlog = full(wp.slowlog, base);
  else wp.slowlog = null;
  if (wp.requestSlowlogTimeout > 0) {
    if (wp.slowlog === null) fail('error', `${P} 'slowlog' must be specified for use with 'request_slowlog_timeout'`);
    try { host.touchAppend(wp.slowlog as string); } catch (e) {
      fail('error', `Unable to create or open slowlog(${wp.slowlog})`, 'post', e as NodeJS.ErrnoException);
    }
    if (wp.requestTerminateTimeout > 0 && wp.requestSlowlogTimeout > wp.requestTerminateTimeout) {
      fail('error', `${P} 'request_slowlog_timeout' (${wp.requestSlowlogTimeout}) can't be greater than 'request_terminate_timeout' (${wp.requestTerminateTimeout})`);
    }
  }
  // php-fpm: a depth given (not 0) needs a slowlog and must be positive; 0 or none means 20.
  if (wp.requestSlowlogTraceDepth !== 0) {
    if (wp.slowlog === null) fail('error', `${P} 'slowlog' must be specified for use with 'request_slowlog_trace_depth'`);
    if (wp.requestSlowlogTraceDepth < 0) {
      fail('error', `${P} 'request_slowlog_trace_depth' (${wp.requestSlowlogTraceDepth}) must be a positive value`);
    }
  } else wp.requestSlowlogTraceDepth = 20;

  if (wp.chroot !== null && wp.chroot !== '') {
    if (wp.chroot.startsWith('$prefix')) wp.chroot = `${base}/${wp.chroot.slice('$prefix'.length)}`;
    else if (wp.chroot.includes('$prefix')) fail('error', `${P} '$prefix' must be use at the beginning of the value`);
    wp.chroot = full(wp.chroot, base);
    if (!host.isDir(wp.chroot)) fail('error', `${P} the chroot path '${wp.chroot}' does not exist or is not a directory`);
  } else wp.chroot = null;

  if (wp.chdir !== null && wp.chdir !== '') {
    wp.chdir = full(wp.chdir, base);
    if (wp.chroot !== null) {
      const inside = `${wp.chroot.replace(/\/+$/, '')}${wp.chdir}`;
      if (!host.isDir(inside)) {
        fail('error', `${P} the chdir path '${wp.chdir}' within the chroot path '${wp.chroot}' ('${inside}') does not exist or is not a directory`);
      }
    } else if (!host.isDir(wp.chdir)) fail('error', `${P} the chdir path '${wp.chdir}' does not exist or is not a directory`);
  } else wp.chdir = null;

  if (wp.chroot === null) {
    for (const rec of [wp.phpValues, wp.phpAdminValues]) {
      for (const k of Object.keys(rec)) {
        if (PATH_INI_KEYS.has(k) && rec[k] !== 'syslog' && rec[k] !== '') rec[k] = full(rec[k], base);
      }
    }
    for (const e of wp.arrayEntries) {
      if (e.name !== 'env' && PATH_INI_KEYS.has(e.key) && e.value !== 'syslog' && e.value !== '') e.value = full(e.value, base);
    }
  }
}

function checkUrlPath(P: string, what: 'status' | 'ping', p: string | null, allowShort: boolean, fail: FailFn): void {
  if (p === null) return;
  if (!p.startsWith('/')) fail('error', `${P} the ${what} path '${p}' must start with a '/'`);
  if (p.length < 2 && !allowShort) fail('error', `${P} the ${what} path '${p}' is not long enough`);
  if (!/^[A-Za-z0-9/_.~-]*$/.test(p)) {
    fail('error', `${P} the ${what} path '${p}' must contain only the following characters '[alphanum]/_-.~'`);
  }
}

/** Value containing ':' or all digits = TCP (reference §4 listen forms). */
export function isTcp(listen: string): boolean {
  return listen.includes(':') || /^\d+$/.test(listen);
}

/**
 * After every pool (php-fpm's fpm_log_open and its format check in
 * fpm_conf_post_process): each access.log is opened (created 0600), then
 * each format is read as the worker will read it.
 */
function accessLogRules(pools: PoolConfig[], host: ValidateHost, say: Say, fail: FailFn): void {
  for (const wp of pools) {
    if (wp.accessLog === null) continue;
    try { host.touchAppend(wp.accessLog); } catch (e) {
      fail('error', `failed to open access log (${wp.accessLog})`, 'post', e as NodeJS.ErrnoException);
    }
  }
  for (const wp of pools) {
    if (wp.accessLog === null) continue;
    const c = compileAccessFormat(wp.accessFormat ?? DEFAULT_ACCESS_FORMAT);
    if (c.ok) continue;
    say('warning', c.warning);
    fail('error', `[pool ${wp.name}] wrong format for access.format '${wp.accessFormat}'`);
  }
}

/** php-fpm's hidden `<pool>_status` pool serving pm.status_listen. */
function statusPool(wp: PoolConfig): PoolConfig {
  return {
    ...wp,
    name: `${wp.name}_status`,
    listen: wp.pmStatusListen as string,
    pm: 'ondemand', pmMaxChildren: 2, pmStartServers: 0, pmMinSpareServers: 0, pmMaxSpareServers: 0,
    pmStatusListen: null, pingPath: null, pingResponse: null, slowlog: null, requestSlowlogTimeout: 0,
    // Nor the access log: a status request on pm.status_listen is not logged.
    accessLog: null, accessFormat: null,
    // php-fpm copies neither to the status pool (no second 'ignored when not root' NOTICE for them).
    chroot: null, processPriority: null,
    accessSuppressPath: [...wp.accessSuppressPath], securityLimitExtensions: [...wp.securityLimitExtensions],
    phpValues: { ...wp.phpValues }, phpAdminValues: { ...wp.phpAdminValues }, env: { ...wp.env },
    arrayEntries: wp.arrayEntries.map((e) => ({ ...e })), hidden: true,
  };
}

/** php-fpm's fpm_unix_is_id(): all digits (also empty), used as a number without a lookup. */
const isId = (name: string): boolean => /^\d*$/.test(name);

/**
 * php-fpm's user checks. `-t` (fpm_unix_test_config): every name must resolve,
 * whoever runs it; nothing else. A real start (fpm_unix_conf_wp): as root,
 * resolve user/group and refuse uid/gid 0 without -R; otherwise a NOTICE for
 * each directive that only root can apply. listen.owner/listen.group are
 * resolved when the unix socket is made (net/listener.ts).
 */
function unixRules(wp: PoolConfig, host: ValidateHost, say: Say, fail: FailFn): void {
  const P = `[pool ${wp.name}]`;
  const set = (v: string | null): v is string => v !== null && v !== '';
  if (host.test) {
    if (set(wp.user) && !isId(wp.user) && !host.lookupUser(wp.user)) fail('error', `${P} cannot get uid for user '${wp.user}'`, 'init');
    if (set(wp.group) && !isId(wp.group) && host.lookupGroup(wp.group) === null) fail('error', `${P} cannot get gid for group '${wp.group}'`, 'init');
    // ZLOG_SYSERROR after getpwnam()/getgrnam(): errno is 0 for a name that is just not there.
    if (set(wp.listenOwner) && !isId(wp.listenOwner) && !host.lookupUser(wp.listenOwner)) {
      fail('error', `${P} cannot get uid for user '${wp.listenOwner}'`, 'init', LOOKUP_ERRNO);
    }
    if (set(wp.listenGroup) && !isId(wp.listenGroup) && host.lookupGroup(wp.listenGroup) === null) {
      fail('error', `${P} cannot get gid for group '${wp.listenGroup}'`, 'init', LOOKUP_ERRNO);
    }
    return;
  }
  if (host.euid !== 0) {
    for (const [name, v] of [['user', wp.user], ['group', wp.group], ['chroot', wp.chroot]] as const) {
      if (set(v)) say('notice', `${P} '${name}' directive is ignored when FPM is not running as root`);
    }
    if (wp.processPriority !== null) say('notice', `${P} 'process.priority' directive is ignored when FPM is not running as root`);
    return;
  }
  let uid = 0;
  let gid = 0;
  if (set(wp.user)) {
    // A numeric user needs no passwd entry; without one its gid stays 0 (php-fpm's set_gid).
    const u = host.lookupUser(wp.user);
    if (isId(wp.user)) { uid = Number(wp.user); gid = u?.uid === uid ? u.gid : 0; }
    else if (!u) fail('error', `${P} cannot get uid for user '${wp.user}'`, 'init');
    else { uid = u.uid; gid = u.gid; }
  }
  if (set(wp.group)) {
    const gr = isId(wp.group) ? Number(wp.group) : host.lookupGroup(wp.group);
    if (gr === null) fail('error', `${P} cannot get gid for group '${wp.group}'`, 'init');
    else gid = gr;
  }
  if (!host.allowRoot && (uid === 0 || gid === 0)) {
    fail('error', `${P} please specify user and group other than root`, 'init');
  }
}
