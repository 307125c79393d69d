// Pure: the master's answer to a body PHP would have cut (upload-rules.ts):
// a FastCGI reply with status 413, and the error-log line saying which limit,
// of which pool, the body passed and by how much.
import { RecordType, ProtocolStatus } from '../fastcgi/constants.js';
import { encodeEndRequest, encodeStream } from '../fastcgi/encoder.js';
import type { Refusal } from './upload-rules.js';

const HEAD = 'Status: 413 Content Too Large\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n';
const BODY = '413 Content Too Large: the request body is over a limit of this server.\n';

/** STDOUT and END_REQUEST records for request `requestId`. */
export function refusalReply(requestId: number): Buffer {
  return Buffer.concat([
    encodeStream(RecordType.STDOUT, requestId, Buffer.from(HEAD + BODY, 'latin1')),
    encodeEndRequest(requestId, 0, ProtocolStatus.REQUEST_COMPLETE),
  ]);
}

const fileOf = (r: Refusal): string => `file '${r.field ?? ''}' (${JSON.stringify(r.filename ?? '')})`;

/** What went over which limit, in words. */
export function refusalReason(r: Refusal): string {
  switch (r.limit) {
    case 'post_max_size':
      return `Content-Length ${r.size} is over post_max_size (${r.value} bytes)`;
    case 'upload_max_filesize':
      return `${fileOf(r)} is over upload_max_filesize (${r.value} bytes): ${r.size} bytes of it received`;
    case 'max_file_uploads':
      return `${fileOf(r)} is file ${r.size}, over max_file_uploads (${r.value})`;
    case 'max_multipart_body_parts':
      return `part ${r.size} is over max_multipart_body_parts (${r.value}${r.derived === true ? ' = max_input_vars + max_file_uploads' : ''})`;
  }
}

/**
 * The WARNING line, as php-fpm names a script and its request in its own
 * lines: `[pool www] script '/srv/up.php' (request: "POST /up.php") refused
 * with 413 before any PHP ran: file 'doc' ("big.pdf") is over upload_max_filesize ...`.
 */
export function refusalLine(pool: string, script: string, method: string, uri: string, r: Refusal): string {
  return `[pool ${pool}] script '${script}' (request: "${method} ${uri}") refused with 413 before any PHP ran: ${refusalReason(r)}`;
}
