// The typed, validated configuration every other module consumes.
// Produced by config/load.ts (I/O: files, includes, env, php.ini lookups)
// on top of the pure parser and validator. Times are in seconds.

export type LogLevel = 'debug' | 'notice' | 'warning' | 'error' | 'alert';
export type PmStyle = 'static' | 'dynamic' | 'ondemand';

export interface GlobalConfig {
  pid: string | null;                 // absolute path, or null
  errorLog: string;                   // absolute path or 'syslog'
  syslogIdent: string;
  syslogFacility: string;             // upper-case name, e.g. 'DAEMON'
  logLevel: LogLevel;
  logLevelSet: boolean;               // -tt prints 'unknown value' when not set (php-fpm quirk)
  logLimit: number;
  logBuffering: boolean;
  emergencyRestartThreshold: number;
  emergencyRestartInterval: number;
  processControlTimeout: number;
  processMax: number;
  processPriority: number | null;
  daemonize: boolean;
  rlimitFiles: number;
  rlimitCore: number;                 // -1 = unlimited
  eventsMechanism: string | null;
  systemdInterval: number;
}

export interface PoolConfig {
  name: string;
  prefix: string | null;
  user: string | null;
  group: string | null;
  listen: string;
  listenBacklog: number;              // -1 = kernel max
  listenAclUsers: string | null;
  listenAclGroups: string | null;
  listenOwner: string | null;
  listenGroup: string | null;
  listenMode: string | null;          // octal string as written, e.g. '0660'
  listenAllowedClients: string | null;
  processPriority: number | null;
  processDumpable: boolean;
  pm: PmStyle;
  pmMaxChildren: number;
  pmStartServers: number;
  pmMinSpareServers: number;
  pmMaxSpareServers: number;
  pmMaxSpawnRate: number;
  pmProcessIdleTimeout: number;
  pmMaxRequests: number;
  pmStatusPath: string | null;
  pmStatusListen: string | null;
  pingPath: string | null;
  pingResponse: string | null;
  accessLog: string | null;
  accessFormat: string | null;
  accessSuppressPath: string[];
  slowlog: string | null;
  requestSlowlogTimeout: number;
  requestSlowlogTraceDepth: number;
  requestTerminateTimeout: number;
  requestTerminateTimeoutTrackFinished: boolean;
  rlimitFiles: number;
  rlimitCore: number;
  chroot: string | null;
  chdir: string | null;
  catchWorkersOutput: boolean;
  decorateWorkersOutput: boolean;
  clearEnv: boolean;
  securityLimitExtensions: string[];  // empty = allow all
  apparmorHat: string | null;
  /** tsfpm.request_buffering: bodies read (and multipart limits checked) before a child is engaged (src/body). */
  requestBuffering: boolean;
  // Arrays keep insertion order; flags are stored as '1' / '0' like php-fpm.
  phpValues: Record<string, string>;
  phpAdminValues: Record<string, string>;
  env: Record<string, string>;
  // Added by config/: every env/php_value/php_admin_value line in file order
  // (flags already mapped: php_flag → php_value '1'/'0'), duplicates kept;
  // -tt prints them newest first like php-fpm's prepended list.
  arrayEntries: ArrayEntry[];
  // The `<pool>_status` pool php-fpm creates for pm.status_listen: ondemand,
  // max_children 2, serves the status page (and PHP) on that address; -tt skips it.
  hidden: boolean;
}

export interface ArrayEntry {
  name: 'env' | 'php_value' | 'php_admin_value';
  key: string;
  value: string;
}

export interface FpmConfig {
  path: string;                       // config path as given (-y), for messages
  prefix: string | null;              // -p
  global: GlobalConfig;
  pools: PoolConfig[];
}
