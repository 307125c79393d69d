// The last minutes of a pool's figures for the dashboard's charts, so a page
// opened now shows what happened before it. Fed once a second by the pool's
// existing process-manager tick with counters it already keeps (nothing on the
// request path), and only for a pool with pm.status_path. Each bucket holds
// `accepted conn` at its end and the most busy children and the longest
// listen queue seen during it (a burst shorter than a bucket still shows).

export interface HistoryPoint {
  /** ms since the epoch, the end of the bucket */
  t: number;
  /** the pool's accepted conn then */
  accepted: number;
  /** the most children busy at a tick of the bucket */
  active: number;
  /** the longest listen queue at a tick of the bucket */
  queue: number;
}

/** 5 s buckets, 10 minutes. */
export const BUCKET_MS = 5000;
export const BUCKETS = 120;

export class StatusHistory {
  private readonly ring: HistoryPoint[] = [];
  private next = 0;
  private closeAt = 0;
  private active = 0;
  private queue = 0;

  constructor(readonly bucketMs = BUCKET_MS, readonly size = BUCKETS) {}

  /** One tick's figures. The first closes a bucket at once: the baseline the first rate needs. */
  record(nowMs: number, accepted: number, active: number, queue: number): void {
    if (active > this.active) this.active = active;
    if (queue > this.queue) this.queue = queue;
    // Half a tick of slack: a 1 s timer that fires a little early still closes every 5th tick.
    if (nowMs < this.closeAt) return;
    const p: HistoryPoint = { t: nowMs, accepted, active: this.active, queue: this.queue };
    if (this.ring.length < this.size) this.ring.push(p);
    else this.ring[this.next] = p;
    this.next = (this.next + 1) % this.size;
    this.closeAt = nowMs + this.bucketMs - 500;
    this.active = 0;
    this.queue = 0;
  }

  /** Oldest first. */
  points(): HistoryPoint[] {
    if (this.ring.length < this.size) return this.ring.slice();
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
