// The one table of php-fpm.conf directives (reference §3, §4). Parsing (value
// types and their messages), defaults, the typed config fields and the -tt dump
// are all driven from it. Order = php-fpm's -tt order.
import type { GlobalConfig, PoolConfig } from './types.js';

export type ValueType =
  | 'string' | 'int' | 'time' | 'bool' | 'rlimit' | 'loglevel' | 'pm' | 'facility' | 'mechanism' | 'extensions';

/** How -tt prints a value: `time` adds `s`; `str` prints `undefined` for null. */
export type DumpStyle = 'str' | 'int' | 'time' | 'bool' | 'intOrUndefined' | 'loglevel' | 'facility' | 'mechanism' | 'list' | 'none'
  /** tsfpm's own directives: printed only when on, so -tt of a php-fpm config stays php-fpm's. */
  | 'boolIfSet';

interface Base { name: string; type: ValueType; dump: DumpStyle }
export interface GlobalDirective extends Base { scope: 'global'; field: keyof GlobalConfig }
export interface PoolDirective extends Base { scope: 'pool'; field: keyof PoolConfig }
export type Directive = GlobalDirective | PoolDirective;

const g = (name: string, field: keyof GlobalConfig, type: ValueType, dump: DumpStyle): GlobalDirective =>
  ({ scope: 'global', name, field, type, dump });
const p = (name: string, field: keyof PoolConfig, type: ValueType, dump: DumpStyle): PoolDirective =>
  ({ scope: 'pool', name, field, type, dump });

export const GLOBAL_DIRECTIVES: readonly GlobalDirective[] = [
  g('pid', 'pid', 'string', 'str'),
  g('error_log', 'errorLog', 'string', 'str'),
  g('syslog.ident', 'syslogIdent', 'string', 'str'),
  g('syslog.facility', 'syslogFacility', 'facility', 'facility'),
  g('log_buffering', 'logBuffering', 'bool', 'bool'),
  g('log_level', 'logLevel', 'loglevel', 'loglevel'),
  g('log_limit', 'logLimit', 'int', 'int'),
  g('emergency_restart_interval', 'emergencyRestartInterval', 'time', 'time'),
  g('emergency_restart_threshold', 'emergencyRestartThreshold', 'int', 'int'),
  g('process_control_timeout', 'processControlTimeout', 'time', 'time'),
  g('process.max', 'processMax', 'int', 'int'),
  g('process.priority', 'processPriority', 'int', 'intOrUndefined'),
  g('daemonize', 'daemonize', 'bool', 'bool'),
  g('rlimit_files', 'rlimitFiles', 'int', 'int'),
  g('rlimit_core', 'rlimitCore', 'rlimit', 'int'),
  g('events.mechanism', 'eventsMechanism', 'mechanism', 'mechanism'),
  g('systemd_interval', 'systemdInterval', 'time', 'time'),
];

export const POOL_DIRECTIVES: readonly PoolDirective[] = [
  p('prefix', 'prefix', 'string', 'str'),
  p('user', 'user', 'string', 'str'),
  p('group', 'group', 'string', 'str'),
  p('listen', 'listen', 'string', 'str'),
  p('listen.backlog', 'listenBacklog', 'int', 'int'),
  p('listen.acl_users', 'listenAclUsers', 'string', 'str'),
  p('listen.acl_groups', 'listenAclGroups', 'string', 'str'),
  p('listen.owner', 'listenOwner', 'string', 'str'),
  p('listen.group', 'listenGroup', 'string', 'str'),
  p('listen.mode', 'listenMode', 'string', 'str'),
  p('listen.allowed_clients', 'listenAllowedClients', 'string', 'str'),
  p('process.priority', 'processPriority', 'int', 'intOrUndefined'),
  p('process.dumpable', 'processDumpable', 'bool', 'bool'),
  p('pm', 'pm', 'pm', 'str'),
  p('pm.max_children', 'pmMaxChildren', 'int', 'int'),
  p('pm.start_servers', 'pmStartServers', 'int', 'int'),
  p('pm.min_spare_servers', 'pmMinSpareServers', 'int', 'int'),
  p('pm.max_spare_servers', 'pmMaxSpareServers', 'int', 'int'),
  p('pm.max_spawn_rate', 'pmMaxSpawnRate', 'int', 'int'),
  p('pm.process_idle_timeout', 'pmProcessIdleTimeout', 'time', 'int'),   // php-fpm prints it without 's'
  p('pm.max_requests', 'pmMaxRequests', 'int', 'int'),
  p('pm.status_path', 'pmStatusPath', 'string', 'str'),
  p('pm.status_listen', 'pmStatusListen', 'string', 'str'),
  p('ping.path', 'pingPath', 'string', 'str'),
  p('ping.response', 'pingResponse', 'string', 'str'),
  p('access.log', 'accessLog', 'string', 'str'),
  p('access.format', 'accessFormat', 'string', 'str'),
  p('slowlog', 'slowlog', 'string', 'str'),
  p('request_slowlog_timeout', 'requestSlowlogTimeout', 'time', 'time'),
  p('request_slowlog_trace_depth', 'requestSlowlogTraceDepth', 'int', 'int'),
  p('request_terminate_timeout', 'requestTerminateTimeout', 'time', 'time'),
  p('request_terminate_timeout_track_finished', 'requestTerminateTimeoutTrackFinished', 'bool', 'bool'),
  p('rlimit_files', 'rlimitFiles', 'int', 'int'),
  p('rlimit_core', 'rlimitCore', 'rlimit', 'int'),
  p('chroot', 'chroot', 'string', 'str'),
  p('chdir', 'chdir', 'string', 'str'),
  p('catch_workers_output', 'catchWorkersOutput', 'bool', 'bool'),
  p('decorate_workers_output', 'decorateWorkersOutput', 'bool', 'bool'),
  p('clear_env', 'clearEnv', 'bool', 'bool'),
  p('security.limit_extensions', 'securityLimitExtensions', 'extensions', 'list'),
  p('apparmor_hat', 'apparmorHat', 'string', 'none'),                   // accepted, not dumped (8.2 Debian)
  // tsfpm's own (php-fpm would refuse them: 'unknown entry'); docs/config.md.
  p('tsfpm.request_buffering', 'requestBuffering', 'bool', 'boolIfSet'),
];

/** Pool array directives (`name[key] = value`); names are case-sensitive. */
export const ARRAY_DIRECTIVES = ['php_value', 'php_flag', 'php_admin_value', 'php_admin_flag', 'env', 'access.suppress_path'] as const;
export type ArrayDirective = typeof ARRAY_DIRECTIVES[number];

const byName = <D extends Directive>(list: readonly D[]): Map<string, D> => new Map(list.map((d) => [d.name, d]));
export const GLOBAL_BY_NAME = byName(GLOBAL_DIRECTIVES);
export const POOL_BY_NAME = byName(POOL_DIRECTIVES);

export function defaultGlobal(): GlobalConfig {
  return {
    pid: null, errorLog: 'log/php-fpm.log', syslogIdent: 'php-fpm', syslogFacility: 'DAEMON',
    logLevel: 'notice', logLevelSet: false, logLimit: 1024, logBuffering: true,
    emergencyRestartThreshold: 0, emergencyRestartInterval: 0, processControlTimeout: 0,
    processMax: 0, processPriority: null, daemonize: true, rlimitFiles: 0, rlimitCore: 0,
    eventsMechanism: null, systemdInterval: 10,
  };
}

export function defaultPool(name: string): PoolConfig {
  return {
    name, prefix: null, user: null, group: null, listen: '', listenBacklog: -1,
    listenAclUsers: null, listenAclGroups: null, listenOwner: null, listenGroup: null,
    listenMode: null, listenAllowedClients: null, processPriority: null, processDumpable: false,
    pm: 'static', pmMaxChildren: 0, pmStartServers: 0, pmMinSpareServers: 0, pmMaxSpareServers: 0,
    pmMaxSpawnRate: 32, pmProcessIdleTimeout: 10, pmMaxRequests: 0, pmStatusPath: null,
    pmStatusListen: null, pingPath: null, pingResponse: null, accessLog: null, accessFormat: null,
    accessSuppressPath: [], slowlog: null, requestSlowlogTimeout: 0, requestSlowlogTraceDepth: 0,
    requestTerminateTimeout: 0, requestTerminateTimeoutTrackFinished: false, rlimitFiles: 0,
    rlimitCore: 0, chroot: null, chdir: null, catchWorkersOutput: false, decorateWorkersOutput: true,
    clearEnv: true, securityLimitExtensions: ['.php', '.phar'], apparmorHat: null,
    requestBuffering: false,
    phpValues: {}, phpAdminValues: {}, env: {}, arrayEntries: [], hidden: false,
  };
}

// syslog(3) facility codes (LOG_xxx, already shifted), printed numerically by -tt.
export const FACILITIES: Readonly<Record<string, number>> = {
  KERN: 0, USER: 8, MAIL: 16, DAEMON: 24, AUTH: 32, SYSLOG: 40, LPR: 48, NEWS: 56, UUCP: 64,
  CRON: 72, AUTHPRIV: 80, FTP: 88, LOCAL0: 128, LOCAL1: 136, LOCAL2: 144, LOCAL3: 152,
  LOCAL4: 160, LOCAL5: 168, LOCAL6: 176, LOCAL7: 184,
};
export const MECHANISMS = ['select', 'poll', 'epoll', 'kqueue', '/dev/poll', 'port'] as const;
/** What Linux offers; the others parse but fail post-processing like on php-fpm. */
export const AVAILABLE_MECHANISMS: readonly string[] = ['select', 'poll', 'epoll'];

export type Parsed = { ok: true; value: string | number | boolean | string[] | null } | { ok: false; reason: string };

const NUM_ERR = 'is not a valid number (greater or equal than zero)';

/** php-fpm's atoi-based integer: optional '-' then digits; empty is 0. */
export function parseInt_(v: string): Parsed {
  if (!/^-?\d*$/.test(v)) return { ok: false, reason: NUM_ERR };
  const n = v === '' || v === '-' ? 0 : Number.parseInt(v, 10);
  return { ok: true, value: n };
}

/** Time: s/digit = seconds, m, h, d (lowercase); the rest is atoi'd (`1.5m` = 60, `5ms` = 5). */
export function parseTime(v: string): Parsed {
  if (v === '') return { ok: false, reason: 'invalid time value' };
  const last = v[v.length - 1];
  const mult: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  const atoi = (s: string): number => { const m = /^[ \t\n\r\f\v]*([+-]?\d+)/.exec(s); return m ? Number.parseInt(m[1], 10) : 0; };
  if (last >= '0' && last <= '9') return { ok: true, value: atoi(v) };
  if (!Object.hasOwn(mult, last)) return { ok: false, reason: 'unknown suffix used in time value' };
  return { ok: true, value: atoi(v.slice(0, -1)) * mult[last] };
}

/** 8.2 boolean: quoted values compared exactly (lowercase); the scanner already mapped bare yes/no. */
export function parseBool(v: string): Parsed {
  if (['1', 'yes', 'on', 'true'].includes(v)) return { ok: true, value: true };
  if (['', '0', 'no', 'off', 'none', 'false'].includes(v)) return { ok: true, value: false };
  return { ok: false, reason: 'invalid boolean value' };
}

export function parseValue(type: ValueType, v: string): Parsed {
  switch (type) {
    case 'string': return { ok: true, value: v };
    case 'int': return parseInt_(v);
    case 'time': return parseTime(v);
    case 'bool': return parseBool(v);
    case 'rlimit': {
      if (v === 'unlimited') return { ok: true, value: -1 };
      const n = parseInt_(v);
      return n.ok && (n.value as number) >= 0 ? n : { ok: false, reason: "must be greater than zero or 'unlimited'" };
    }
    case 'loglevel': {
      const l = v.toLowerCase();
      const map: Record<string, string> = { debug: 'debug', notice: 'notice', warning: 'warning', warn: 'warning', error: 'error', alert: 'alert' };
      return Object.hasOwn(map, l) ? { ok: true, value: map[l] } : { ok: false, reason: "invalid value for 'log_level'" };
    }
    case 'pm': {
      const l = v.toLowerCase();
      return l === 'static' || l === 'dynamic' || l === 'ondemand'
        ? { ok: true, value: l } : { ok: false, reason: 'invalid process manager (static, dynamic or ondemand)' };
    }
    case 'facility': {
      const u = v.toUpperCase();
      return Object.hasOwn(FACILITIES, u) ? { ok: true, value: u } : { ok: false, reason: 'invalid value' };
    }
    case 'mechanism': return { ok: true, value: v.toLowerCase() };
    case 'extensions': return { ok: true, value: v.split(/[ \t]+/).filter((e) => e !== '') };
  }
}
