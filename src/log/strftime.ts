// Pure: glibc's strftime(3) in the C locale, for the access log's %t and %T
// (php-fpm passes `%{...}t` to strftime() over localtime()). Conversions,
// flags (`_ - 0 ^ #`), field widths and the E/O modifiers as glibc 2.36
// reads them; what glibc does not know it copies as written (`%Q` → `%Q`,
// a lone `%` at the end stays). Checked against perl's POSIX::strftime,
// which is glibc's.
//
// What differs: %Z is the zone abbreviation ICU gives ('UTC', 'EST', but
// 'GMT+1' where glibc reads 'CET' from tzdata).

/** struct tm, plus the zone facts strftime reads from it. */
export interface BrokenDown {
  year: number;       // full year, e.g. 2026
  mon: number;        // 0-11
  mday: number;       // 1-31
  hour: number;
  min: number;
  sec: number;
  wday: number;       // 0 = Sunday
  yday: number;       // 0-365
  gmtoff: number;     // seconds east of UTC
  zone: string;       // abbreviation
  epoch: number;      // seconds since the epoch (%s)
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

let zoneFmt: Intl.DateTimeFormat | null = null;
let zoneFmtTz: string | undefined;

/** The zone abbreviation at `d` (ICU's short name). */
function zoneName(d: Date): string {
  // A formatter keeps the zone it was made in; TZ may be changed (Node applies it at once).
  if (zoneFmt === null || zoneFmtTz !== process.env.TZ) {
    zoneFmt = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    zoneFmtTz = process.env.TZ;
  }
  for (const p of zoneFmt.formatToParts(d)) if (p.type === 'timeZoneName') return p.value;
  return '';
}

/** localtime(3) in the process's time zone (TZ, else /etc/localtime); `zone`: also the abbreviation (ICU is slow). */
export function localTime(epochSec: number, zone = true): BrokenDown {
  const d = new Date(epochSec * 1000);
  const start = new Date(d.getFullYear(), 0, 1);
  // Calendar days since 1 January, immune to DST shifts.
  const yday = Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(start.getFullYear(), 0, 1)) / 86_400_000);
  return {
    year: d.getFullYear(), mon: d.getMonth(), mday: d.getDate(), hour: d.getHours(), min: d.getMinutes(), sec: d.getSeconds(),
    wday: d.getDay(), yday, gmtoff: -d.getTimezoneOffset() * 60, zone: zone ? zoneName(d) : '', epoch: epochSec,
  };
}

/** ISO 8601 week-based year and week (glibc's iso_week_days). */
function isoWeek(tm: BrokenDown): { year: number; week: number } {
  const isoWeekDays = (yday: number, wday: number): number => {
    const bigEnough = 378; // a multiple of 7 that keeps the remainder positive
    return yday - ((yday - wday + 4 + bigEnough) % 7) + 3;
  };
  const leap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  let year = tm.year;
  let days = isoWeekDays(tm.yday, tm.wday);
  if (days < 0) {
    year--;
    days = isoWeekDays(tm.yday + (leap(year) ? 366 : 365), tm.wday);
  } else {
    const d = isoWeekDays(tm.yday - (leap(year) ? 366 : 365), tm.wday);
    if (d >= 0) {
      year++;
      days = d;
    }
  }
  return { year, week: Math.floor(days / 7) + 1 };
}

// Conversions glibc accepts after E and after O.
const E_OK = new Set(['c', 'C', 'x', 'X', 'y', 'Y']);
const O_BAD = new Set(['a', 'A', 'b', 'B', 'h', 'c', 'C', 'x', 'X', 'Y', 'D', 'F', 'R', 'T', 'r', 'n', 't', '%', 'p', 'P', 's', 'z', 'Z']);

/** strftime(fmt, tm) with no size limit (the caller applies php-fpm's). */
export function strftime(fmt: string, tm: BrokenDown): string {
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const at = i;
    let pad = '';          // '', '_', '-', '0', '+'
    let upper = false;
    let swap = false;
    for (;;) {
      const f = fmt[i + 1];
      if (f === '_' || f === '-' || f === '0' || f === '+') pad = f;
      else if (f === '^') upper = true;
      else if (f === '#') swap = true;
      else break;
      i++;
    }
    let width = -1;
    while (i + 1 < fmt.length && fmt[i + 1] >= '0' && fmt[i + 1] <= '9') {
      width = (width < 0 ? 0 : width * 10) + (fmt.charCodeAt(++i) - 48);
    }
    let mod = '';
    if (fmt[i + 1] === 'E' || fmt[i + 1] === 'O') mod = fmt[++i];
    const conv = fmt[++i];
    // glibc pads every field to the width: zeros with the 0 or + flag, else spaces.
    const widen = (v: string): string => (width > v.length ? (pad === '0' || pad === '+' ? '0' : ' ').repeat(width - v.length) + v : v);
    const bad = (): string => widen(fmt.slice(at, i + 1));
    if (conv === undefined) {
      out += widen(fmt.slice(at)); // % at the end: kept
      break;
    }
    if ((mod === 'E' && !E_OK.has(conv)) || (mod === 'O' && O_BAD.has(conv))) {
      out += bad();
      continue;
    }
    // DO_NUMBER: `digits` (or the width) wide, zeros unless the _ flag (the
    // default for %e %k %l) asks for spaces; the - flag leaves the width to widen().
    const num = (n: number, digits: number, spacePad = false): string => {
      const p = spacePad && pad !== '0' && pad !== '-' ? '_' : pad;
      let s = String(Math.abs(n));
      if (p !== '-') {
        const need = Math.max(width, digits) - s.length - (n < 0 ? 1 : 0);
        if (need > 0) s = (p === '_' ? ' ' : '0').repeat(need) + s;
      }
      return widen(n < 0 ? `-${s}` : s);
    };
    const str = (s: string, caseChange: 'upper' | 'lower' | null = null): string => {
      let v = s;
      // glibc: a lower-case conversion wins over ^.
      if (caseChange === 'lower') v = v.toLowerCase();
      else if (upper || caseChange === 'upper') v = v.toUpperCase();
      return widen(v);
    };
    const sub = (f: string): string => str(strftime(f, tm));
    const hour12 = tm.hour % 12 === 0 ? 12 : tm.hour % 12;
    switch (conv) {
      case '%': out += str('%'); break;
      case 'n': out += str('\n'); break;
      case 't': out += str('\t'); break;
      case 'a': out += str(DAYS[tm.wday].slice(0, 3), swap ? 'upper' : null); break;
      case 'A': out += str(DAYS[tm.wday], swap ? 'upper' : null); break;
      case 'b': case 'h': out += str(MONTHS[tm.mon].slice(0, 3), swap ? 'upper' : null); break;
      case 'B': out += str(MONTHS[tm.mon], swap ? 'upper' : null); break;
      case 'p': out += str(tm.hour < 12 ? 'AM' : 'PM', swap ? 'lower' : null); break;
      case 'P': out += str(tm.hour < 12 ? 'am' : 'pm', 'lower'); break;
      case 'c': out += sub('%a %b %e %H:%M:%S %Y'); break;
      case 'x': case 'D': out += sub('%m/%d/%y'); break;
      case 'X': case 'T': out += sub('%H:%M:%S'); break;
      case 'r': out += sub('%I:%M:%S %p'); break;
      case 'R': out += sub('%H:%M'); break;
      case 'F': out += sub('%Y-%m-%d'); break;
      case 'C': out += num(Math.floor(tm.year / 100), 2); break;
      case 'y': out += num(((tm.year % 100) + 100) % 100, 2); break;
      case 'Y': out += num(tm.year, 1); break;
      case 'm': out += num(tm.mon + 1, 2); break;
      case 'd': out += num(tm.mday, 2); break;
      case 'e': out += num(tm.mday, 2, true); break;
      case 'H': out += num(tm.hour, 2); break;
      case 'k': out += num(tm.hour, 2, true); break;
      case 'I': out += num(hour12, 2); break;
      case 'l': out += num(hour12, 2, true); break;
      case 'M': out += num(tm.min, 2); break;
      case 'S': out += num(tm.sec, 2); break;
      case 'j': out += num(tm.yday + 1, 3); break;
      case 'u': out += num(((tm.wday + 6) % 7) + 1, 1); break;
      case 'w': out += num(tm.wday, 1); break;
      case 'U': out += num(Math.floor((tm.yday - tm.wday + 7) / 7), 2); break;
      case 'W': out += num(Math.floor((tm.yday - ((tm.wday + 6) % 7) + 7) / 7), 2); break;
      case 'V': out += num(isoWeek(tm).week, 2); break;
      case 'G': out += num(isoWeek(tm).year, 1); break;
      case 'g': out += num(((isoWeek(tm).year % 100) + 100) % 100, 2); break;
      case 's': out += num(tm.epoch, 1); break;
      case 'z': {
        const off = Math.abs(tm.gmtoff);
        const hhmm = Math.floor(off / 3600) * 100 + Math.floor((off % 3600) / 60);
        const sign = tm.gmtoff < 0 ? '-' : '+';
        const fill = pad === '-' ? '' : pad === '_' ? ' ' : '0';
        const digits = String(hhmm);
        const w = Math.max(width - 1, fill === '' ? 0 : 4);
        out += fill === ' ' ? `${sign}${digits}`.padStart(w + 1, ' ') : `${sign}${fill === '' ? digits : digits.padStart(w, '0')}`;
        break;
      }
      case 'Z': out += str(tm.zone, swap ? 'lower' : null); break;
      default: out += bad();
    }
  }
  return out;
}
