/**
 * What slipway's safe install of a release costs over a plain `tar -xzf`: fetch from
 * the local store, digest check, unpack with path/link/size checks and a sha256 of
 * every file, links to shared data, read-only bits, ledger record (`installRelease`),
 * against raw `tar -xzf` of the same archive. A ~100 MB release of random and
 * compressible files, built by the real CLI from a temp git repo. Median of 3 each.
 *
 *   node dist/bench/deploy-overhead.js        (BENCH_MB=100, BENCH_RUNS=3)
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureHostLayout, hostLayout } from '../src/host/layout.js';
import { installRelease } from '../src/host/install-release.js';
import { openLedger } from '../src/host/ledger.js';
import { openStore } from '../src/store/open-store.js';
import { slipwayBin } from '../test/helpers/host-fixture.js';

const run = promisify(execFile);
const totalMb = Number(process.env.BENCH_MB ?? 100);
const runs = Number(process.env.BENCH_RUNS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** 40% incompressible (random), 60% compressible text in smaller files, like an app with assets and code. */
function writeAppTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const randomMb = Math.round(totalMb * 0.4);
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  for (let i = 0; i < randomMb; i += 1) {
    const data = randomBytes(1024 * 1024);
    writeFileSync(path.join(dir, 'assets', `blob-${i}.bin`), data);
    files += 1;
    bytes += data.length;
  }
  const textBytes = (totalMb - randomMb) * 1024 * 1024;
  const fileSize = 100 * 1024;
  for (let i = 0; i * fileSize < textBytes; i += 1) {
    const folder = path.join(dir, 'src', `module-${i % 20}`);
    mkdirSync(folder, { recursive: true });
    const lines: string[] = [];
    let size = 0;
    for (let n = 0; size < fileSize; n += 1) {
      const line = `export function handler_${i}_${n}(request) { return { status: 200, body: 'item ${n} of file ${i}', at: ${(n * 7919) % 100_003} }; }\n`;
      lines.push(line);
      size += line.length;
    }
    const text = lines.join('');
    writeFileSync(path.join(folder, `file-${i}.js`), text);
    files += 1;
    bytes += text.length;
  }
  writeFileSync(path.join(dir, 'server.js'), "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n");
  writeFileSync(
    path.join(dir, 'slipway.yml'),
    'app: bench\nservices:\n  web:\n    command: node server.js\n    port_env: PORT\nenvironments:\n  production:\n    host: local\n    port: 18999\n',
  );
  return { files, bytes };
}

function timeCommand(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${command} ${args.join(' ')} exited ${code}`))));
  });
}

const root = mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-'));
try {
  const repo = path.join(root, 'repo');
  const home = path.join(root, 'home');
  mkdirSync(repo, { recursive: true });
  const tree = writeAppTree(repo);
  const git = (args: string[]) => run('git', args, { cwd: repo, maxBuffer: 16 * 1024 * 1024 });
  await git(['init', '-q', '-b', 'main']);
  await git(['config', 'user.name', 'bench']);
  await git(['config', 'user.email', 'bench@example.invalid']);
  await git(['config', 'commit.gpgsign', 'false']);
  await git(['add', '-A']);
  await git(['commit', '-q', '-m', 'a big release']);

  const env = { ...process.env, SLIPWAY_HOME: home, NO_COLOR: '1' };
  const buildStart = performance.now();
  const built = await run(process.execPath, [slipwayBin, 'build', '--ref', 'HEAD', '--version', 'big', '--json'], { cwd: repo, env, maxBuffer: 16 * 1024 * 1024 });
  const buildMs = performance.now() - buildStart;
  const { id } = JSON.parse(built.stdout) as { id: string };
  const storeDir = path.join(home, 'store');
  // The baseline: the same files as one tar.gz, extracted by tar.
  const archive = path.join(root, 'tree.tar.gz');
  await run('tar', ['-czf', archive, '--exclude=.git', '-C', repo, '.']);
  const archiveBytes = statSync(archive).size;
  const packs = path.join(storeDir, 'bench', 'objects', 'packs');
  const storedBytes = readdirSync(packs).reduce((sum, name) => sum + statSync(path.join(packs, name)).size, 0);
  const store = await openStore({ type: 'local', path: storeDir }, repo);

  const slipwayMs: number[] = [];
  const tarMs: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    // Interleaved, so that machine noise hits both alike.
    const rawDir = path.join(root, `raw-${i}`);
    mkdirSync(rawDir);
    tarMs.push(await timeCommand('tar', ['-xzf', archive, '-C', rawDir]));
    rmSync(rawDir, { recursive: true, force: true });

    const layout = hostLayout(path.join(root, `host-${i}`));
    await ensureHostLayout(layout);
    const ledger = openLedger(layout.ledgerFile);
    const t0 = performance.now();
    await installRelease({ layout, ledger, store, app: 'bench', id, signatures: { required: false, publicKeysPem: [] } });
    slipwayMs.push(performance.now() - t0);
    ledger.close();
    await run('chmod', ['-R', 'u+w', layout.root]);
    rmSync(layout.root, { recursive: true, force: true });
  }

  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  console.log(`deploy-overhead: release of ${tree.files} files, ${mb(tree.bytes)} unpacked, ${mb(storedBytes)} in the store, ${mb(archiveBytes)} as a tar.gz (built in ${(buildMs / 1000).toFixed(1)} s)`);
  console.log(`deploy-overhead: tar -xzf                         median ${median(tarMs).toFixed(0)} ms  (${tarMs.map((m) => m.toFixed(0)).join(', ')})`);
  console.log(`deploy-overhead: slipway fetch+verify+unpack      median ${median(slipwayMs).toFixed(0)} ms  (${slipwayMs.map((m) => m.toFixed(0)).join(', ')})`);
  console.log(`deploy-overhead: ratio ${(median(slipwayMs) / median(tarMs)).toFixed(2)}x (slipway installRelease / tar -xzf), over ${runs} runs each`);
} finally {
  await run('chmod', ['-R', 'u+w', root]).catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}
