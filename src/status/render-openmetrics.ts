// Pure: the openmetrics status page, php-fpm 8.2's bytes: the pool's figures
// only (?full adds nothing), no labels, `# EOF` last. php-fpm prints TYPE
// before HELP for phpfpm_listen_queue_length; so does this.
import type { PoolStatus } from './snapshot.js';

function metric(name: string, help: string, type: 'gauge' | 'counter', value: number): string {
  return `# HELP phpfpm_${name} ${help}\n# TYPE phpfpm_${name} ${type}\nphpfpm_${name} ${value}\n`;
}

export function renderOpenMetrics(s: PoolStatus): string {
  return metric('up', `Could pool ${s.pool} using a ${s.processManager} PM on PHP-FPM be reached?`, 'gauge', 1) +
    metric('start_since', 'The number of seconds since FPM has started.', 'counter', s.startSince) +
    metric('accepted_connections', 'The number of requests accepted by the pool.', 'counter', s.acceptedConn) +
    metric('listen_queue', 'The number of requests in the queue of pending connections.', 'gauge', s.listenQueue) +
    metric('max_listen_queue', 'The maximum number of requests in the queue of pending connections since FPM has started.', 'counter', s.maxListenQueue) +
    '# TYPE phpfpm_listen_queue_length gauge\n' +
    '# HELP phpfpm_listen_queue_length The size of the socket queue of pending connections.\n' +
    `phpfpm_listen_queue_length ${s.listenQueueLen}\n` +
    metric('idle_processes', 'The number of idle processes.', 'gauge', s.idleProcesses) +
    metric('active_processes', 'The number of active processes.', 'gauge', s.activeProcesses) +
    metric('total_processes', 'The number of idle + active processes.', 'gauge', s.idleProcesses + s.activeProcesses) +
    metric('max_active_processes', 'The maximum number of active processes since FPM has started.', 'counter', s.maxActiveProcesses) +
    metric('max_children_reached', "The number of times, the process limit has been reached, when pm tries to start more children (works only for pm 'dynamic' and 'ondemand').", 'counter', s.maxChildrenReached) +
    metric('slow_requests', "The number of requests that exceeded your 'request_slowlog_timeout' value.", 'counter', s.slowRequests) +
    '# EOF\n';
}
