// One error class for everything the codec rejects; `code` is stable so callers
// (and tests) branch on it rather than on message text.

export type FastCgiErrorCode =
  | 'FCGI_ERR_VERSION' // header version 0 (php-fpm accepts any version >= 1)
  | 'FCGI_ERR_TOO_LONG' // contentLength + paddingLength > 65535, or encoder input too large
  | 'FCGI_ERR_PARAMS_OVERRUN' // a name-value length runs past the end of the params block
  | 'FCGI_ERR_BAD_BODY' // a fixed-size body (BEGIN/END_REQUEST) of the wrong length
  | 'FCGI_ERR_TRUNCATED' // input ended inside a record
  | 'FCGI_ERR_PARSER_FAILED' // input offered to a parser that already failed
  | 'FCGI_ERR_UNEXPECTED' // a record that cannot start a request (php-fpm closes)
  | 'FCGI_ERR_MULTIPLEX' // BEGIN_REQUEST inside a request: no multiplexing
  | 'FCGI_ERR_ROLE'; // a role other than responder, authorizer, filter

export class FastCgiProtocolError extends Error {
  override readonly name = 'FastCgiProtocolError';
  readonly code: FastCgiErrorCode;

  constructor(code: FastCgiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
