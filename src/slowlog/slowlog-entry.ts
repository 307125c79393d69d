// Pure: one slowlog entry as php-fpm writes it (fpm_php_trace.c), e.g.
//
//   (empty line)
//   [01-Dec-2026 00:06:39]  [pool www] pid 11267
//   script_filename = /srv/www/slow.php
//   [0x00007f14c0e15140] usleep() /srv/www/slow.php:3
//   [0x00007f14c0e150e0] inner() /srv/www/slow.php:6
//   [0x00007f14c0e15080] outer() /srv/www/slow.php:8
//
// The time is the error log's (microseconds with log_level = debug) followed
// by php-fpm's two spaces. A read that failed ends the entry with
// `+++ dump failed`, after whatever was written before it.
import { formatDate } from '../log/error-log.js';
import type { Trace } from './frame-walk.js';

export interface EntryHead {
  date: Date;
  /** Sub-second part in µs, shown with log_level = debug. */
  usec: number;
  debug: boolean;
  pool: string;
  pid: number;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export function entryHeader(h: EntryHead): string {
  const usec = h.debug ? `.${String(h.usec).padStart(6, '0')}` : '';
  return `\n[${formatDate(h.date)}${usec}]  [pool ${h.pool}] pid ${h.pid}\n`;
}

/** The entry for a walked stack. */
export function formatEntry(h: EntryHead, t: Trace): string {
  let out = entryHeader(h);
  if (t.script === null) return `${out}+++ dump failed\n`;
  out += `script_filename = ${t.script}\n`;
  for (const f of t.frames) {
    out += `[0x${hex16(f.address)}] ${f.name}()`;
    if (f.complete) out += ` ${f.file}:${f.line}\n`;
  }
  return t.failed ? `${out}+++ dump failed\n` : out;
}

/** The entry when the stack cannot be read at all (unknown PHP build): the script as the master knows it. */
export function scriptOnlyEntry(h: EntryHead, script: string): string {
  return `${entryHeader(h)}script_filename = ${script}\n`;
}
