/**
 * What slipway's streaming backups cost over the bare tools, measured in the same run:
 * - PostgreSQL: postgresEngine.backup (connect + version check + pg_dump -Fc streamed
 *   through sha256 into the file + fsync) vs `pg_dump -Fc -f <file>`, on a generated
 *   database of BENCH_PG_MB (default 300) MB;
 * - files: filesEngine.backup (node-tar + zlib gzip + sha256 + fsync) vs `tar -czf`, on
 *   a folder of BENCH_FILES_MB (default 200) MB of mixed text and binary files.
 * Median of BENCH_RUNS (default 3) runs each, interleaved, after one warm-up each.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { filesEngine } from '../src/data/engines/files.js';
import { postgresEngine } from '../src/data/engines/postgres.js';
import { startPostgres } from '../test/helpers/postgres.js';

const run = promisify(execFile);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const pgMegabytes = Number(process.env.BENCH_PG_MB ?? 300);
const filesMegabytes = Number(process.env.BENCH_FILES_MB ?? 200);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Runs baseline and ours alternately (warm-up first) and prints medians and their ratio; the last run's files stay. */
interface Side {
  label: string;
  /** its output file, removed (untimed) before each run */
  output: string;
  run: () => Promise<unknown>;
}

async function compare(o: { name: string; baseline: Side; ours: Side }): Promise<void> {
  const once = (side: Side) => {
    fs.rmSync(side.output, { force: true });
    return time(side.run);
  };
  await once(o.baseline);
  await once(o.ours);
  const base: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    base.push(await once(o.baseline));
    ours.push(await once(o.ours));
  }
  const b = median(base);
  const s = median(ours);
  console.log(`${o.name}: ${o.baseline.label} median ${(b / 1000).toFixed(2)} s, ${o.ours.label} median ${(s / 1000).toFixed(2)} s over ${runs} runs`);
  console.log(`${o.name}: ratio ${(s / b).toFixed(2)}x (slipway / baseline)`);
}

function sizeOf(file: string): string {
  return `${(fs.statSync(file).size / 1024 / 1024).toFixed(1)} MB`;
}

async function benchPostgres(work: string): Promise<void> {
  const pg = await startPostgres();
  try {
    const psql = (sql: string) =>
      pg.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
    // ~290 bytes per row on disk (table + primary key): text that compresses like real data (hex digests), numbers, timestamps.
    const rows = Math.round((pgMegabytes * 1024 * 1024) / 290);
    const generated = await time(() =>
      psql(`CREATE UNLOGGED TABLE events AS
              SELECT i AS id, md5(i::text) AS a, md5((i * 7)::text) AS b, repeat(md5((i * 13)::text), 4) AS c,
                     TIMESTAMPTZ '2024-01-01' + i * INTERVAL '1 second' AS at, (i % 1000) / 7.0 AS amount
              FROM generate_series(1, ${rows}) AS i;
            ALTER TABLE events ADD PRIMARY KEY (id);`),
    );
    const size = (await psql("SELECT pg_size_pretty(pg_database_size('postgres'))")).trim();
    console.log(`postgres: generated ${rows} rows (${size}) in ${(generated / 1000).toFixed(1)} s`);

    const rawFile = path.join(work, 'raw.pgdump');
    const ourFile = path.join(work, 'slipway.pgdump');
    // Both sides run the same pg_dump binary (not Debian's pg_wrapper script in /usr/bin).
    const env = { DATABASE_URL: pg.url, PATH: `${pg.binDir}${path.delimiter}${process.env.PATH}` };
    const item = { kind: 'database' as const, name: 'main', engine: 'postgres' as const, urlEnv: 'DATABASE_URL' };
    const pgDump = path.join(pg.binDir, 'pg_dump');
    await compare({
      name: 'backup postgres',
      baseline: { label: 'pg_dump -Fc -f', output: rawFile, run: () => run(pgDump, ['-Fc', '-f', rawFile, `--dbname=${pg.url}`]) },
      ours: { label: 'slipway (pg_dump -Fc | sha256 > file, fsync)', output: ourFile, run: () => postgresEngine.backup({ item, outFile: ourFile, env }) },
    });
    console.log(`backup postgres: archive sizes ${sizeOf(rawFile)} (pg_dump), ${sizeOf(ourFile)} (slipway)`);
    // For scale: the structural check + fingerprint pass a createBackup adds (one run).
    const inspect = await time(() => postgresEngine.inspect({ item, file: ourFile, env }));
    console.log(`backup postgres: the check createBackup adds (pg_restore over the whole archive + row fingerprints) took ${(inspect / 1000).toFixed(2)} s`);
    fs.rmSync(ourFile, { force: true });
    fs.rmSync(rawFile, { force: true });
  } finally {
    await pg.stop();
  }
}

function lorem(bytes: number, seed: number): Buffer {
  const words = ['slipway', 'release', 'backup', 'verify', 'restore', 'host', 'deploy', 'proxy', 'health', 'journal', 'ledger', 'upload'];
  const parts: string[] = [];
  let length = 0;
  let x = seed;
  while (length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const word = `${words[x % words.length]}${x % 97} `;
    parts.push(word);
    length += word.length;
  }
  return Buffer.from(parts.join('').slice(0, bytes));
}

async function benchFiles(work: string): Promise<void> {
  const folder = path.join(work, 'uploads');
  const half = (filesMegabytes * 1024 * 1024) / 2;
  // Half incompressible media (2 MiB files), half compressible documents (50 KiB files) in nested folders.
  for (let i = 0; i * 2 * 1024 * 1024 < half; i++) {
    const dir = path.join(folder, 'media', String(i % 10));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `clip-${i}.bin`), randomBytes(2 * 1024 * 1024));
  }
  for (let i = 0; i * 50 * 1024 < half; i++) {
    const dir = path.join(folder, 'docs', String(i % 40));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `doc-${i}.txt`), lorem(50 * 1024, i + 1));
  }
  console.log(`files: generated ${filesMegabytes} MB in ${folder}`);

  const rawFile = path.join(work, 'raw.tar.gz');
  const ourFile = path.join(work, 'slipway.tar.gz');
  const item = { kind: 'folder' as const, name: 'uploads', engine: 'files' as const, dir: folder };
  await compare({
    name: 'backup files',
    baseline: { label: 'tar -czf', output: rawFile, run: () => run('tar', ['-czf', rawFile, '-C', folder, '.']) },
    ours: { label: 'slipway (node-tar | gzip | sha256 > file, fsync)', output: ourFile, run: () => filesEngine.backup({ item, outFile: ourFile, env: {} }) },
  });
  console.log(`backup files: archive sizes ${sizeOf(rawFile)} (tar -czf), ${sizeOf(ourFile)} (slipway)`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-backup-'));
try {
  await benchPostgres(work);
  await benchFiles(work);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
