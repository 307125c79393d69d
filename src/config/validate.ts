// Post-processing (reference §2 "Post-process errors", §1 "Root"): defaults that
// depend on other values, path resolution against prefixes, and php-fpm's
// consistency rules, in php-fpm's order and words. Pure: the file system and
// the user database come through ValidateHost.
import { AVAILABLE_MECHANISMS } from './directives.js';
import type { ConfigMessage, ParsedConfig } from './parse.js';
import type { FpmConfig, PoolConfig } from './types.js';

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
  | { ok: true; config: FpmConfig; messages: ConfigMessage[] }
  | { ok: false; stage: 'post' | 'init'; messages: ConfigMessage[] };

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
  try {
    if (host.prefix !== null && !host.isDir(host.prefix)) {
      fail('error', `the global prefix '${host.prefix}' does not exist or is not a directory`);
    }
    const varBase = host.prefix ?? '/var';
    if (g.pid !== null && g.pid !== '') g.pid = full(g.pid, varBase);
    else g.pid = null;
    if (g.errorLog !== 'syslog') g.errorLog = full(g.errorLog, varBase);
    if (g.logLimit < 512) fail('error', 'log_limit must be greater than 512');
    if (g.errorLog !== 'syslog') {
      try { host.touchAppend(g.errorLog); } catch (e) {
        fail('error', `failed to open error_log (${g.errorLog})`, 'post', e as NodeJS.ErrnoException);
      }
    }
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
    for (const wp of pools) rootRules(wp, host, say, fail);
  } catch (e) {
    if (e instanceof Fail) return { ok: false, stage: e.stage, messages };
    throw e;
  }
  return { ok: true, config: { path, prefix: host.prefix, global: g, pools }, messages };
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
    try { host.touchAppend(wp.accessLog); } catch (e) {
      fail('error', `failed to open access log (${wp.accessLog})`, 'post', e as NodeJS.ErrnoException);
    }
  } else wp.accessLog = null;

  if (wp.slowlog !== null && wp.slowlog !== '') wp.slowlog = full(wp.slowlog, base);
  else wp.slowlog = null;
  if (wp.requestSlowlogTimeout > 0) {
    if (wp.slowlog === null) fail('error', `${P} 'slowlog' must be specified for use with 'request_slowlog_timeout'`);
    if (wp.requestSlowlogTraceDepth <= 0) {
      fail('error', `${P} 'request_slowlog_trace_depth' (${wp.requestSlowlogTraceDepth}) must be a positive value`);
    }
    if (wp.requestTerminateTimeout > 0 && wp.requestSlowlogTimeout > wp.requestTerminateTimeout) {
      fail('error', `${P} 'request_slowlog_timeout' (${wp.requestSlowlogTimeout}) can't be greater than 'request_terminate_timeout' (${wp.requestTerminateTimeout})`);
    }
    try { host.touchAppend(wp.slowlog as string); } catch (e) {
      fail('error', `Unable to create or open slowlog(${wp.slowlog})`, 'post', e as NodeJS.ErrnoException);
    }
  }

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

/** php-fpm's hidden `<pool>_status` pool serving pm.status_listen. */
function statusPool(wp: PoolConfig): PoolConfig {
  return {
    ...wp,
    name: `${wp.name}_status`,
    listen: wp.pmStatusListen as string,
    pm: 'ondemand', pmMaxChildren: 2, pmStartServers: 0, pmMinSpareServers: 0, pmMaxSpareServers: 0,
    pmStatusListen: null, pingPath: null, pingResponse: null, slowlog: null, requestSlowlogTimeout: 0,
    accessSuppressPath: [...wp.accessSuppressPath], securityLimitExtensions: [...wp.securityLimitExtensions],
    phpValues: { ...wp.phpValues }, phpAdminValues: { ...wp.phpAdminValues }, env: { ...wp.env },
    arrayEntries: wp.arrayEntries.map((e) => ({ ...e })), hidden: true,
  };
}

function rootRules(wp: PoolConfig, host: ValidateHost, say: Say, fail: FailFn): void {
  const P = `[pool ${wp.name}]`;
  if (host.euid !== 0) {
    for (const [name, v] of [['user', wp.user], ['group', wp.group], ['chroot', wp.chroot], ['process.priority', wp.processPriority]] as const) {
      if (v !== null && v !== '') say('warning', `${P} '${name}' directive is ignored when FPM is not running as root`);
    }
    return;
  }
  let uid = 0;
  let gid = 0;
  if (wp.user !== null && wp.user !== '') {
    const u = host.lookupUser(wp.user);
    if (!u) fail('error', `${P} cannot get uid for user '${wp.user}'`, 'init');
    else { uid = u.uid; gid = u.gid; }
  }
  if (wp.group !== null && wp.group !== '') {
    const gr = /^\d+$/.test(wp.group) ? Number(wp.group) : host.lookupGroup(wp.group);
    if (gr === null) fail('error', `${P} cannot get gid for group '${wp.group}'`, 'init');
    else gid = gr;
  }
  if (!host.test && !host.allowRoot && (uid === 0 || gid === 0)) {
    fail('error', `${P} please specify user and group other than root`, 'init');
  }
}
