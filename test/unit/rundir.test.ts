import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createRundir, sweepStaleRundirs } from '../../src/control/rundir.js';
import { makeTempDir } from '../helpers/tmp.js';

test('rundir: created 0711 with a marker naming this host and pid', () => {
  const tmp = makeTempDir('rundir-unit-');
  const dir = createRundir(tmp);
  assert.equal(statSync(dir).mode & 0o777, 0o711);
  assert.equal(readFileSync(join(dir, 'master.pid'), 'latin1'), `${hostname()} ${process.pid}\n`);
});

test('rundir: only marked directories of dead masters on this host are swept', () => {
  const tmp = makeTempDir('rundir-unit-');
  const mk = (name: string, marker: string | null): string => {
    const d = join(tmp, name);
    mkdirSync(d);
    writeFileSync(join(d, 'x.sock'), '');
    if (marker !== null) writeFileSync(join(d, 'master.pid'), marker);
    return d;
  };
  const dead = mk('tsfpm-dead', `${hostname()} 4242\n`);
  const live = mk('tsfpm-live', `${hostname()} 4343\n`);
  const other = mk('tsfpm-otherhost', 'elsewhere 4242\n');
  const unmarked = mk('tsfpm-test-abc', null);
  const notOurs = mk('php-dead', `${hostname()} 4242\n`);
  const mine = mk('tsfpm-mine', `${hostname()} ${process.pid}\n`);
  const removed = sweepStaleRundirs(tmp, (pid) => pid === 4343);
  assert.deepEqual(removed, [dead]);
  assert.equal(existsSync(dead), false);
  for (const d of [live, other, unmarked, notOurs, mine]) assert.equal(existsSync(d), true, d);
});
