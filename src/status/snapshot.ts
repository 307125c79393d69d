// What the status page shows: one pool and, for `?full`, its processes, as
// php-fpm's scoreboard holds them (fpm_scoreboard.h). Plain data; the
// renderers turn it into text, json, xml, html or openmetrics.

export interface PoolStatus {
  pool: string;
  /** static, dynamic or ondemand */
  processManager: string;
  /** Seconds since the epoch. */
  startTime: number;
  startSince: number;
  acceptedConn: number;
  listenQueue: number;
  maxListenQueue: number;
  listenQueueLen: number;
  idleProcesses: number;
  activeProcesses: number;
  maxActiveProcesses: number;
  maxChildrenReached: number;
  slowRequests: number;
  processes: ProcessStatus[];
}

/** php-fpm's request stages (fpm_request.c). */
export type ProcessState = 'Idle' | 'Reading headers' | 'Getting request information' | 'Running' | 'Ending' | 'Finishing';

export interface ProcessStatus {
  pid: number;
  state: ProcessState;
  /** Seconds since the epoch. */
  startTime: number;
  startSince: number;
  requests: number;
  /** Microseconds: the last request's when Idle, else the current one's so far. */
  requestDuration: number;
  /** '-' when none. */
  requestMethod: string;
  /** php-fpm's request_uri (SCRIPT_NAME after its path fix-ups), '' when none. */
  requestUri: string;
  /** QUERY_STRING, '' when none. */
  queryString: string;
  /** CONTENT_LENGTH as php-fpm's size_t (atol), printed with %zu. */
  contentLength: bigint;
  /** '-' when none. */
  user: string;
  /** '-' when none. */
  script: string;
  /** Percent, printed with %.2f; 0 unless Idle. */
  lastRequestCpu: number;
  /** Bytes; 0 unless Idle. */
  lastRequestMemory: number;
}
