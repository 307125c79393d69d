// FCGI_GET_VALUES answered as php-fpm answers it: only the names it knows, each once,
// with request id 0 whatever id was asked. Order is the reverse of first appearance:
// php's param hash prepends new names to its list (seen from php-cgi too). php-fpm knows only FCGI_MPXS_CONNS=0
// (php-cgi also reports FCGI_MAX_CONNS/FCGI_MAX_REQS; php-fpm does not).

import { MgmtVar, NULL_REQUEST_ID, RecordType } from './constants.js';
import { encodeParams, encodeRecord } from './encoder.js';
import { decodeParams } from './params.js';

export const PHP_FPM_MGMT_VALUES: ReadonlyMap<string, string> = new Map([[MgmtVar.MPXS_CONNS, '0']]);

/**
 * The full GET_VALUES_RESULT record for a GET_VALUES body. Values in the request are
 * ignored (the spec says they are empty). Throws FCGI_ERR_PARAMS_OVERRUN on a
 * malformed body, where php-fpm closes the connection without answering.
 */
export function answerGetValues(
  requestBody: Buffer,
  known: ReadonlyMap<string, string> = PHP_FPM_MGMT_VALUES,
): Buffer {
  const seen = new Set<string>();
  const answer: Array<[string, string]> = [];
  for (const [name] of decodeParams(requestBody)) {
    if (seen.has(name)) continue;
    seen.add(name);
    const value = known.get(name);
    if (value !== undefined) answer.push([name, value]);
  }
  answer.reverse();
  return encodeRecord(RecordType.GET_VALUES_RESULT, NULL_REQUEST_ID, encodeParams(answer));
}
