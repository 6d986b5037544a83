import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { createHostFixture, type HostFixture } from '../helpers/host-fixture.js';
import { FIXTURE_OPTIONS, runFaultColumn, sqliteSchema } from './fault-case.js';

// Fault matrix, column "disk full": each case's host root (releases, shared data, ledger,
// journal, backups, logs) is a small tmpfs of its own, and a filler file takes every
// free byte of it while the update is at each step; the filler goes once the update has
// ended. Mounting needs root: elsewhere the column is skipped, loudly.

// Above the 64 MiB margin preflight asks for, so that v1 deploys before the disk fills.
const DISK_SIZE = '80m';

const fillerOf = (host: HostFixture) => path.join(host.hostRoot, 'filler.bin');

/** Why a tmpfs cannot be mounted here, or null when it can. */
function cannotMount(): string | null {
  if (process.getuid?.() !== 0) return 'mounting a size-limited tmpfs needs root';
  const probe = mkdtempSync(path.join(os.tmpdir(), 'slipway-tmpfs-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { encoding: 'utf8' });
    if (mounted.status !== 0) return `cannot mount a tmpfs here: ${(mounted.stderr || mounted.error?.message || '').trim()}`;
    spawnSync('umount', [probe]);
    return null;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Writes until the disk refuses (ENOSPC): big chunks first, then pages, so not a page is left. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size, 0xa5);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

it('the disk fills up at every step of an update', { timeout: 240_000 }, async (t) => {
  await runFaultColumn(t, {
    column: 'disk-full',
    setUp: async () => cannotMount(),
    fixture: () => createHostFixture(t, { ...FIXTURE_OPTIONS, build: ['v1', 'v2'] }),
    spec: {
      pauseWhen: 'before',
      async prepare(host) {
        mkdirSync(host.hostRoot, { recursive: true });
        const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_SIZE},mode=0755`, 'tmpfs', host.hostRoot], { encoding: 'utf8' });
        if (mounted.status !== 0) throw new Error(`mount a tmpfs on ${host.hostRoot}: ${mounted.stderr}`);
      },
      async inject({ host }) {
        fillDisk(fillerOf(host));
      },
      async lift({ host }) {
        rmSync(fillerOf(host), { force: true });
      },
      async cleanup(host) {
        // Lazily: the fixture's teardown then removes a plain folder.
        spawnSync('umount', ['-l', host.hostRoot]);
      },
      schema: sqliteSchema,
    },
  });
});
