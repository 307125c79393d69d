// Pure process-manager decisions (php-fpm's fpm_pctl_perform_idle_server_maintenance):
// given a snapshot of a pool, what the once-a-second tick does.
import type { PmStyle } from '../config/types.js';

export interface PmSnapshot {
  style: PmStyle;
  name: string;
  idle: number;
  total: number;                // live children, busy or idle
  maxChildren: number;
  minSpare: number;
  maxSpare: number;
  maxSpawnRate: number;
  spawnRate: number;            // current (doubles while short of idle children)
  warnedMaxChildren: boolean;   // inside a "reached max_children" episode
  oldestIdleAgeMs: number | null; // ondemand: time since the oldest idle child's last state change
  idleTimeoutMs: number;
}

export interface PmDecision {
  killOldestIdle: boolean;
  spawn: number;
  spawnRate: number;
  warnedMaxChildren: boolean;
  maxChildrenReached: boolean;  // count one more episode
  warnings: string[];
}

export function tick(s: PmSnapshot): PmDecision {
  const d: PmDecision = { killOldestIdle: false, spawn: 0, spawnRate: s.spawnRate, warnedMaxChildren: s.warnedMaxChildren, maxChildrenReached: false, warnings: [] };
  if (s.style === 'ondemand') {
    if (s.oldestIdleAgeMs !== null && s.oldestIdleAgeMs > s.idleTimeoutMs) d.killOldestIdle = true;
    return d;
  }
  if (s.style !== 'dynamic') return d;
  if (s.idle > s.maxSpare) {
    d.killOldestIdle = true;
    d.spawnRate = 1;
    return d;
  }
  if (s.idle < s.minSpare) {
    if (s.total >= s.maxChildren) {
      if (!s.warnedMaxChildren) {
        d.warnings.push(`[pool ${s.name}] server reached pm.max_children setting (${s.maxChildren}), consider raising it`);
        d.maxChildrenReached = true;
        d.warnedMaxChildren = true;
      }
      d.spawnRate = 1;
      return d;
    }
    const n = Math.min(s.spawnRate, s.minSpare - s.idle, s.maxChildren - s.total);
    if (s.spawnRate >= 8) {
      d.warnings.push(`[pool ${s.name}] seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning ${n} children, there are ${s.idle} idle, and ${s.total} total children`);
    }
    d.spawn = n;
    d.spawnRate = Math.min(s.spawnRate * 2, s.maxSpawnRate);
    d.warnedMaxChildren = false;
    return d;
  }
  d.spawnRate = 1;
  d.warnedMaxChildren = false;
  return d;
}

/** Children to start with: static = max_children, dynamic = start_servers, ondemand = 0. */
export function initialChildren(style: PmStyle, maxChildren: number, startServers: number): number {
  return style === 'static' ? maxChildren : style === 'dynamic' ? startServers : 0;
}
