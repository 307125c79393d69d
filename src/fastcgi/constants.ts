// FastCGI 1.0 wire constants (numbers from the FastCGI specification).

export const FCGI_VERSION_1 = 1;
export const HEADER_LEN = 8;
/** Largest contentLength a record can carry (16-bit field). */
export const MAX_CONTENT = 65535;
/**
 * php-fpm splits large writes into records of this size: the largest multiple of 8
 * below 64 KiB, so full records need no padding.
 */
export const MAX_STREAM_CHUNK = 0xfff8;
/** GET_VALUES and friends use request id 0 ("management records"). */
export const NULL_REQUEST_ID = 0;

export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const Role = {
  RESPONDER: 1,
  AUTHORIZER: 2,
  FILTER: 3,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** BEGIN_REQUEST flags. */
export const FLAG_KEEP_CONN = 1;

export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;
export type ProtocolStatus = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

/** Management variable names a GET_VALUES request may ask about. */
export const MgmtVar = {
  MAX_CONNS: 'FCGI_MAX_CONNS',
  MAX_REQS: 'FCGI_MAX_REQS',
  MPXS_CONNS: 'FCGI_MPXS_CONNS',
} as const;

/** Lengths of the fixed bodies. */
export const BEGIN_REQUEST_BODY_LEN = 8;
export const END_REQUEST_BODY_LEN = 8;
