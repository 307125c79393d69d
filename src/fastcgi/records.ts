// Decoders for the fixed-size record bodies.

import { BEGIN_REQUEST_BODY_LEN, END_REQUEST_BODY_LEN, FLAG_KEEP_CONN } from './constants.js';
import { FastCgiProtocolError } from './errors.js';

export interface BeginRequest {
  role: number;
  flags: number;
  keepConn: boolean;
}

export interface EndRequest {
  appStatus: number;
  protocolStatus: number;
}

/** php-fpm accepts BEGIN_REQUEST only with an 8-byte body; anything else closes. */
export function decodeBeginRequest(content: Buffer): BeginRequest {
  if (content.length !== BEGIN_REQUEST_BODY_LEN) {
    throw new FastCgiProtocolError('FCGI_ERR_BAD_BODY', `BEGIN_REQUEST body of ${content.length} bytes, expected 8`);
  }
  const flags = content[2]!;
  return { role: (content[0]! << 8) | content[1]!, flags, keepConn: (flags & FLAG_KEEP_CONN) !== 0 };
}

export function decodeEndRequest(content: Buffer): EndRequest {
  if (content.length !== END_REQUEST_BODY_LEN) {
    throw new FastCgiProtocolError('FCGI_ERR_BAD_BODY', `END_REQUEST body of ${content.length} bytes, expected 8`);
  }
  return { appStatus: content.readUInt32BE(0), protocolStatus: content[4]! };
}
