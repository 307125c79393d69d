import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fnmatch, glob, matchComponent } from '../../src/config/glob.js';
import { makeTempDir } from '../helpers/tmp.js';

test('fnmatch: * ? [..] [!..] ranges and escapes', () => {
  assert.ok(fnmatch('*.conf', 'www.conf'));
  assert.ok(!fnmatch('*.conf', 'www.conf.bak'));
  assert.ok(fnmatch('w?w.conf', 'www.conf'));
  assert.ok(fnmatch('[a-c]x', 'bx'));
  assert.ok(!fnmatch('[!a-c]x', 'bx'));
  assert.ok(fnmatch('[^a-c]x', 'dx'));
  assert.ok(fnmatch('a\\*', 'a*'));
  assert.ok(!fnmatch('a\\*', 'ab'));
  assert.ok(fnmatch('[]]', ']'));
  assert.ok(!matchComponent('*', '.hidden'));
  assert.ok(matchComponent('.*', '.hidden'));
});

test('glob on disk: sorted, directories marked, missing dir aborts, no match', () => {
  const dir = makeTempDir('tsfpm-glob-');
  for (const f of ['b.conf', 'a.conf', '.h.conf', 'c.txt']) fs.writeFileSync(path.join(dir, f), '');
  fs.mkdirSync(path.join(dir, 'd.conf'));
  assert.deepEqual(glob(`${dir}/*.conf`), { ok: true, paths: [`${dir}/a.conf`, `${dir}/b.conf`, `${dir}/d.conf/`] });
  assert.deepEqual(glob(`${dir}/zz*`), { ok: false, ret: 3 });
  assert.deepEqual(glob(`${dir}/nope/*.conf`), { ok: false, ret: 2 });
  assert.deepEqual(glob(`${dir}/a.conf`), { ok: true, paths: [`${dir}/a.conf`] });
});
