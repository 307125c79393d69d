// catch_workers_output: a child's stdout/stderr lines in php-fpm's words,
// `[pool www] child 42 said into stderr: "..."`, one WARNING per line.
import type { ErrorLog } from '../log/error-log.js';

export class WorkerOutput {
  private partial = new Map<string, string>();

  constructor(private readonly log: ErrorLog, private readonly pool: string, private readonly decorate: boolean) {}

  write(pid: number, stream: 'stdout' | 'stderr', data: Buffer): void {
    const key = `${pid}:${stream}`;
    const text = (this.partial.get(key) ?? '') + data.toString('latin1');
    const lines = text.split('\n');
    const rest = lines.pop() ?? '';
    for (const line of lines) this.emit(pid, stream, line, false);
    // php-fpm flushes a partial line when no more data is pending.
    if (rest !== '') this.emit(pid, stream, rest, false);
    this.partial.delete(key);
  }

  close(pid: number): void {
    for (const stream of ['stdout', 'stderr'] as const) this.partial.delete(`${pid}:${stream}`);
  }

  private emit(pid: number, stream: string, line: string, closed: boolean): void {
    if (!this.decorate) { this.log.raw(line); return; }
    this.log.warning(`[pool ${this.pool}] child ${pid} said into ${stream}: "${line}"${closed ? ', pipe is closed' : ''}`);
  }
}
