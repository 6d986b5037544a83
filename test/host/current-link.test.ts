import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pointCurrentAt, readCurrent } from '../../src/host/current-link.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

async function hostWithReleases(t: { after(fn: () => void): void }, ids: string[]): Promise<HostLayout> {
  const dir = tempDir(t);
  const layout = hostLayout(dir);
  await ensureHostLayout(layout);
  for (const id of ids) fs.mkdirSync(path.join(layout.releasesDir, id));
  return layout;
}

test('no current link reads as null', async (t) => {
  const layout = await hostWithReleases(t, []);
  assert.equal(await readCurrent(layout), null);
});

test('pointCurrentAt sets a relative symlink and swaps it, leaving no temp links', async (t) => {
  const layout = await hostWithReleases(t, ['aaa', 'bbb']);
  await pointCurrentAt(layout, 'aaa');
  assert.equal(await readCurrent(layout), 'aaa');
  assert.equal(fs.readlinkSync(layout.currentLink), path.join('releases', 'aaa'));
  await pointCurrentAt(layout, 'bbb');
  assert.equal(await readCurrent(layout), 'bbb');
  assert.deepEqual(fs.readdirSync(layout.root).filter((name) => name.startsWith('current')), ['current']);
});

test('readers during many swaps always see one release or the other, never a gap', async (t) => {
  const layout = await hostWithReleases(t, ['aaa', 'bbb']);
  await pointCurrentAt(layout, 'aaa');
  let swapping = true;
  const seen = new Set<string | null>();
  const reader = (async () => {
    while (swapping) seen.add(await readCurrent(layout));
  })();
  for (let i = 0; i < 200; i++) await pointCurrentAt(layout, i % 2 === 0 ? 'bbb' : 'aaa');
  swapping = false;
  await reader;
  for (const id of seen) assert.ok(id === 'aaa' || id === 'bbb', `read ${id}`);
  assert.equal(await readCurrent(layout), 'aaa');
});

test('the host can be moved: the link is relative', async (t) => {
  const layout = await hostWithReleases(t, ['aaa']);
  await pointCurrentAt(layout, 'aaa');
  const moved = layout.root + '-moved';
  fs.renameSync(layout.root, moved);
  t.after(() => fs.rmSync(moved, { recursive: true, force: true }));
  assert.equal(await readCurrent(hostLayout(moved)), 'aaa');
});

test('pointing at a release that is not unpacked is refused', async (t) => {
  const layout = await hostWithReleases(t, []);
  await expectRejects(pointCurrentAt(layout, 'nope'), 'HOST_RELEASE_MISSING');
  await expectRejects(pointCurrentAt(layout, '../etc'), 'HOST_RELEASE_ID_INVALID');
  assert.equal(await readCurrent(layout), null);
});

test('corrupt current links are reported as HOST_CURRENT_CORRUPT', async (t) => {
  const layout = await hostWithReleases(t, ['aaa']);
  const corrupt = 'HOST_CURRENT_CORRUPT';

  fs.symlinkSync(path.join('releases', 'gone'), layout.currentLink);
  await expectRejects(readCurrent(layout), corrupt); // target missing
  fs.unlinkSync(layout.currentLink);

  fs.symlinkSync(os.tmpdir(), layout.currentLink);
  await expectRejects(readCurrent(layout), corrupt); // outside releases/
  fs.unlinkSync(layout.currentLink);

  fs.writeFileSync(path.join(layout.releasesDir, 'file'), 'x');
  fs.symlinkSync(path.join('releases', 'file'), layout.currentLink);
  await expectRejects(readCurrent(layout), corrupt); // not a folder
  fs.unlinkSync(layout.currentLink);

  fs.writeFileSync(layout.currentLink, 'x');
  await expectRejects(readCurrent(layout), corrupt); // a regular file
  fs.unlinkSync(layout.currentLink);

  fs.mkdirSync(path.join(layout.currentLink, 'inside'), { recursive: true });
  await expectRejects(readCurrent(layout), corrupt); // a real folder
  await expectRejects(pointCurrentAt(layout, 'aaa'), corrupt); // refuses to replace it
  assert.ok(fs.statSync(path.join(layout.currentLink, 'inside')).isDirectory());
  assert.deepEqual(fs.readdirSync(layout.root).filter((name) => name.startsWith('current.tmp')), []);
});
