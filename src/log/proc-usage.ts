// CPU time of one php-cgi process, read by the master from /proc for the
// access log's %C (php-fpm's worker measures itself with times(2); php-cgi
// tells nobody). /proc/PID/stat is opened once per process and re-read with
// pread(2) at offset 0: one syscall per reading, none when the format has
// no %C. The counters are the ones times(2) gives php-fpm's worker
// (utime, stime, and cutime/cstime of reaped children), in the same 1/100 s
// clock ticks.
import * as fs from 'node:fs';

export interface CpuTicks {
  user: number;
  system: number;
}

const buf = Buffer.allocUnsafe(1024);

export class ProcUsage {
  private pid = -1;
  private fd = -1;

  /** utime+cutime and stime+cstime so far, null when the process cannot be read. */
  ticks(pid: number): CpuTicks | null {
    if (pid <= 0) return null;
    if (pid !== this.pid) {
      this.close();
      this.pid = pid;
      try { this.fd = fs.openSync(`/proc/${pid}/stat`, 'r'); } catch { return null; }
    }
    if (this.fd < 0) return null;
    let s: string;
    try {
      s = buf.toString('latin1', 0, fs.readSync(this.fd, buf, 0, buf.length, 0));
    } catch {
      return null; // gone
    }
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ', 15);
    // f[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
    const n = (field: number): number => Number.parseInt(f[field - 3], 10) || 0;
    return { user: n(14) + n(16), system: n(15) + n(17) };
  }

  close(): void {
    if (this.fd >= 0) { try { fs.closeSync(this.fd); } catch { /* already closed */ } }
    this.fd = -1;
    this.pid = -1;
  }
}
