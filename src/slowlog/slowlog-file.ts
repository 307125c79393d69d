// The slowlog file. php-fpm opens it for each entry and closes it after
// (fpm_php_trace: fopen "a+"), so a file logrotate moved away is never
// written again and USR1 has nothing to reopen; tsfpm does the same (entries
// are rare, one open(2) each costs nothing). Created 0600, as php-fpm's
// configuration test creates it.
import * as fs from 'node:fs';

/** Appends `text`; the error when the file cannot be opened or written. */
export function appendEntry(file: string, text: string): NodeJS.ErrnoException | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'a', 0o600);
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  try {
    fs.writeSync(fd, Buffer.from(text, 'latin1'));
    return null;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  } finally {
    fs.closeSync(fd);
  }
}
