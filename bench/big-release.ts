/**
 * A release the size of a real Node app (bench/big-tree.ts: ~50,000 files, ~600 MB,
 * links in node_modules/.bin), through the real CLI, each figure beside a baseline
 * measured in the same run:
 *
 *   (a) `slipway build` vs the build command alone. The build copies a cached
 *       node_modules into the export with `cp -a`, as `npm ci` does from a warm cache.
 *   (b) store bytes a one-file change adds vs those of the full release (du of the store)
 *   (c) fresh install (the deploy's fetch step: fetch, verify, extract) vs `tar -xzf`
 *       of a tar.gz of the same tree
 *   (d) install of the one-file change vs the same `tar -xzf` (made from the copy of v1
 *       that v1's deploy prepared during its health window), and `cp -al` of the
 *       installed release beside it: what making every folder and link again costs
 *   (e) `slipway verify` of the untouched release (and `--full`, which hashes every
 *       file again) vs `sha256sum` of its files
 *   (f) warm rollback (`slipway rollback`, five in turn, medians) vs a bare `slipway status`, and when the old
 *       version first answers through the proxy after the command starts
 *
 * The one-file change is a commit that changes one line of the app's own server.js.
 * A phase that fails prints why on its line and the others go on. Before anything,
 * a tiny release probes whether slipway takes links (relative, and one pointing out
 * of the tree); the big tree gets only the links slipway takes, and says so.
 *
 *   node dist/bench/big-release.js
 *     BIG_RELEASE_FILES=50000 BIG_RELEASE_BYTES=600000000 BIG_RELEASE_SEED=1
 *     BIG_RELEASE_LINKS=0 (no links at all)  BIG_RELEASE_KEEP=1 (keep the temp folder)
 *     BIG_RELEASE_DIR=/mnt/other (work on another file system)
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateBigTree, mutateOneFile } from './big-tree.js';
import { CLI_PATH, freePort, runCli, type CliResult } from '../test/helpers/cli.js';
import { processesUnder, startAgentProcess, type AgentProcess } from '../test/helpers/processes.js';
import { agentTimesOf } from './agent-times.js';
import { bareNodeMs } from './bare-node.js';
import { pollVersionUntil } from './poll-version.js';
import { settle } from './settle.js';

const run = promisify(execFile);
const FILES = Number(process.env.BIG_RELEASE_FILES ?? 50_000);
// 600 MB at 50,000 files; the same mean size per file for other counts.
const BYTES = Number(process.env.BIG_RELEASE_BYTES ?? FILES * 12_000);
const SEED = Number(process.env.BIG_RELEASE_SEED ?? 1);
const WANT_LINKS = process.env.BIG_RELEASE_LINKS !== '0';
const KEEP = process.env.BIG_RELEASE_KEEP === '1';
const CLI_TIMEOUT_MS = 10 * 60_000;

const started = performance.now();
// BIG_RELEASE_DIR: the folder to work in, on the file system to measure (the temp folder's by default).
const root = mkdtempSync(path.join(process.env.BIG_RELEASE_DIR ?? os.tmpdir(), 'slipway-bench-big-'));
// slipway's own temporary folders (a build's export) on the same file system as the rest.
const TMP = path.join(root, 'tmp');
mkdirSync(TMP);
const agents: AgentProcess[] = [];
let failures = 0;

// ---------------------------------------------------------------- small helpers

const say = (line: string) => console.log(`big-release: ${line}`);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');


/**
 * slipway's own time in a build (start, export, hashing, packing, storing, clean-up: the
 * whole command's wall time less its build commands') against its build commands' time
 * in the same build, from what `build` prints: machine noise hits both alike.
 */
function ownTime(build: { ms: number; stdout: string }): string {
  const times = /build commands ([\d.]+) s, hashing ([\d.]+) s/.exec(build.stdout);
  if (!times) return `build printed no timings: ${build.stdout.slice(0, 200)}`;
  const commandsMs = Number(times[1]) * 1000;
  const own = build.ms - commandsMs;
  return `slipway's own work ${sec(own)} (hashing ${times[2]} s) on top of its build commands' ${sec(commandsMs)} in the same build: +${((own / commandsMs) * 100).toFixed(0)}%`;
}

/** Runs one phase; a failure is printed on the phase's line and the bench goes on. */
async function phase<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    failures += 1;
    const message = (error as Error).message.split('\n').filter(Boolean).slice(0, 6).join('\n      ');
    say(`${label}: FAILED: ${message}`);
    return undefined;
  }
}

function firstLines(result: CliResult): string {
  const lines = (result.stderr || result.stdout).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at '));
  const telling = lines.filter((l) => /^(error|hint)\b|✗|rolled back/.test(l));
  return `exit ${result.code}: ${(telling.length > 0 ? telling : lines).slice(0, 4).join(' | ')}`;
}

async function timedCli(home: string, cwd: string, args: string[]): Promise<{ ms: number; result: CliResult }> {
  const t0 = performance.now();
  const result = await runCli(args, { cwd, home, tmp: TMP, timeoutMs: CLI_TIMEOUT_MS });
  return { ms: performance.now() - t0, result };
}

async function cliOk(home: string, cwd: string, args: string[]): Promise<{ ms: number; stdout: string; output: string }> {
  const { ms, result } = await timedCli(home, cwd, args);
  if (result.code !== 0) throw new Error(`slipway ${args.join(' ')}: ${firstLines(result)}`);
  return { ms, stdout: result.stdout, output: `${result.stdout}\n${result.stderr}` };
}

/**
 * "ext4 on /dev/vda, no journal": what the figures depend on. On ext4 without a journal,
 * making files soon after many were removed is slow (the kernel skips inodes freed in the
 * last minutes), which every phase here pays, `tar` included.
 */
async function describeFileSystem(dir: string): Promise<string> {
  try {
    const { stdout } = await run('df', ['--output=source,fstype', dir]);
    const [source, type] = stdout.trim().split('\n').at(-1)!.trim().split(/\s+/);
    if (type !== 'ext4' || !source) return `${type ?? '?'} on ${source ?? '?'}`;
    const journals = await readdir('/proc/fs/jbd2').catch(() => [] as string[]);
    const device = path.basename(source);
    return `ext4 on ${source}, ${journals.some((j) => j === device || j.startsWith(`${device}-`)) ? 'with a journal' : 'no journal'}`;
  } catch (error) {
    return `unknown (${(error as Error).message})`;
  }
}

/** What a deploy's output says on one step's line ("  ✓ fetch   126 ms  <this>"). */
function stepLine(output: string, step: string): string | null {
  const line = output.split('\n').find((l) => new RegExp(`^\\s*\\S\\s+${step}\\s`).test(l));
  return line ? line.replace(new RegExp(`^\\s*\\S\\s+${step}\\s+[\\d.]+ m?s\\s*`), '') : null;
}

function timeShell(command: string, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', command], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
}

async function duBytes(dir: string): Promise<number> {
  try {
    const { stdout } = await run('du', ['-s', '-B1', dir]);
    return Number(stdout.split('\t')[0]);
  } catch {
    return 0; // not there yet
  }
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function git(repo: string, args: string[]): Promise<string> {
  return (await run('git', args, { cwd: repo, maxBuffer: 16 * 1024 * 1024 })).stdout;
}

async function initRepo(repo: string): Promise<void> {
  mkdirSync(repo, { recursive: true });
  await git(repo, ['init', '-q', '-b', 'main']);
  for (const [key, value] of [['user.name', 'bench'], ['user.email', 'bench@example.invalid'], ['commit.gpgsign', 'false'], ['tag.gpgsign', 'false']]) {
    await git(repo, ['config', key, value]);
  }
}

async function commitAndTag(repo: string, tag: string, message: string): Promise<void> {
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '-q', '-m', message]);
  await git(repo, ['tag', tag]);
}

const SERVER = (name: string) => `// ${name}: the bench app's server (the one-file change edits this line)
'use strict';
const http = require('node:http');
// v1 or v2: whether the first line above carries the one-file change's "(patched N)".
const version = /\\(patched \\d+\\)/.test(require('node:fs').readFileSync(__filename, 'utf8').split('\\n')[0]) ? 'v2' : 'v1';
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end(JSON.stringify({ ok: true }));
  if (req.url === '/version') return res.end(version);
  res.statusCode = 404;
  res.end('not found');
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('${name} listening on ' + process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

function slipwayYml(o: { app: string; port: number; buildCommands: string[] }): string {
  return `app: ${o.app}
services:
  web:
    command: node server.js
    port_env: PORT
    health: { path: /healthz, interval: 200ms, timeout: 2s, successes: 2, deadline: 60s }
build:
  commands: [${o.buildCommands.map((c) => JSON.stringify(c)).join(', ')}]
environments:
  production:
    host: local
    port: ${o.port}
    health_window: 1s
    drain_timeout: 1s
`;
}

async function startAgent(repo: string, home: string): Promise<AgentProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(SLIPWAY_|NODE_OPTIONS$|NODE_TEST_CONTEXT$|FORCE_COLOR$|GIT_DIR$|GIT_WORK_TREE$|GIT_INDEX_FILE$)/.test(key)) env[key] = value;
  }
  const agent = await startAgentProcess({ cli: CLI_PATH, cwd: repo, environment: 'production', env: { ...env, SLIPWAY_HOME: home, NO_COLOR: '1', TMPDIR: TMP } });
  agents.push(agent);
  return agent;
}

/** Five warm rollbacks in turn (each leaves the other version warm), with `env` changed for the CLI; medians. */
async function warmRollbacks(home: string, repo: string, port: number, env: NodeJS.ProcessEnv) {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const cli = async (args: string[]) => {
    const t0 = performance.now();
    const result = await runCli(args, { cwd: repo, home, tmp: TMP, timeoutMs: CLI_TIMEOUT_MS, env });
    if (result.code !== 0) throw new Error(`slipway ${args.join(' ')}: ${firstLines(result)}`);
    return performance.now() - t0;
  };
  const status: number[] = [];
  for (let i = 0; i < 3; i += 1) status.push(await cli(['status', 'production', '--json']));
  const nodeMs: number[] = [];
  for (let i = 0; i < 3; i += 1) nodeMs.push(await bareNodeMs(env));
  const runs = 5;
  const walls: number[] = [];
  const answeredEach: number[] = [];
  const received: number[] = [];
  const toSwitch: number[] = [];
  const before = await answers(port);
  let want = before.endsWith('v1') ? 'v2' : 'v1';
  for (let i = 0; i < runs; i += 1) {
    // The old version's first answer through the proxy, polled on its own connection while the command runs.
    const stop = { stopped: false };
    const startedAtMs = Date.now();
    const t0 = performance.now();
    const answered = pollVersionUntil(port, want, t0, stop);
    walls.push(await cli(['rollback', 'production', '--yes']));
    const timer = setTimeout(() => (stop.stopped = true), 10_000);
    answeredEach.push((await answered) ?? Number.POSITIVE_INFINITY);
    clearTimeout(timer);
    stop.stopped = true;
    const agent = await agentSide(home, repo, startedAtMs);
    received.push(agent.receivedMs);
    toSwitch.push(agent.toSwitchMs);
    want = want === 'v1' ? 'v2' : 'v1';
  }
  return {
    runs,
    wallMs: median(walls),
    statusMs: median(status),
    nodeMs: median(nodeMs),
    answeredMs: median(answeredEach),
    answeredEach,
    receivedMs: median(received),
    toSwitchMs: median(toSwitch),
  };
}

interface HistoryEntry {
  id: number;
  kind: string;
  to: string | null;
  outcome: string | null;
  steps: { name: string; outcome: string; ms: number }[];
}

/** The newest deployment: when the agent recorded it and its steps' ms up to the end of the switch (agent-times.ts). */
async function agentSide(home: string, repo: string, commandStartedAtMs: number): Promise<{ receivedMs: number; toSwitchMs: number }> {
  return agentTimesOf((await cliOk(home, repo, ['history', 'production', '--json'])).stdout, commandStartedAtMs);
}

/** The ms of one step of the newest deployment, from `slipway history --json`. */
async function stepMs(home: string, repo: string, step: string): Promise<number> {
  const { stdout } = await cliOk(home, repo, ['history', 'production', '--json']);
  const entries = JSON.parse(stdout) as HistoryEntry[];
  const newest = [...entries].sort((a, b) => b.id - a.id)[0];
  const found = newest?.steps.find((s) => s.name === step);
  if (!found) throw new Error(`no ${step} step in the newest deployment: ${JSON.stringify(newest)}`);
  return found.ms;
}

async function answers(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/version`, { signal: AbortSignal.timeout(5000) });
    return `${res.status} ${await res.text()}`;
  } catch (error) {
    return `no answer (${(error as Error).message})`;
  }
}


// ---------------------------------------------------------------- link probe

/**
 * Which links slipway takes through build and deploy, found with a two-file release:
 * relative links inside the tree, and a link pointing out of it.
 */
async function probeLinks(): Promise<{ relative: boolean; outside: boolean; why: string }> {
  const probeRoot = path.join(root, 'probe');
  const attempt = async (name: string, commands: string[]): Promise<string | null> => {
    const repo = path.join(probeRoot, name);
    const home = path.join(probeRoot, `${name}-home`);
    await initRepo(repo);
    mkdirSync(home);
    writeFileSync(path.join(repo, 'server.js'), SERVER('probe'));
    writeFileSync(path.join(repo, 'package.json'), '{ "name": "probe", "version": "1.0.0" }\n');
    writeFileSync(path.join(repo, 'slipway.yml'), slipwayYml({ app: 'probe', port: await freePort(), buildCommands: commands }));
    await commitAndTag(repo, 'v1', 'probe');
    const built = await timedCli(home, repo, ['build', '--ref', 'v1', '--version', 'v1']);
    if (built.result.code !== 0) return `build: ${firstLines(built.result)}`;
    const agent = await startAgent(repo, home);
    try {
      const deployed = await timedCli(home, repo, ['deploy', 'production', '--version', 'v1', '--yes']);
      if (deployed.result.code !== 0) return `deploy: ${firstLines(deployed.result)}`;
      return null;
    } finally {
      await agent.stop();
    }
  };
  const relative = ['mkdir -p node_modules/.bin node_modules/p/bin', 'echo "// p" > node_modules/p/bin/cli.js', 'ln -s ../p/bin/cli.js node_modules/.bin/p', 'ln -s node_modules/p linked'];
  const both = await attempt('both', [...relative, 'ln -s /usr/bin/python3 python']);
  if (both === null) return { relative: true, outside: true, why: 'slipway takes relative links and a link out of the tree' };
  const rel = await attempt('relative', relative);
  if (rel === null) return { relative: true, outside: false, why: `slipway takes relative links but not one out of the tree (${both})` };
  return { relative: false, outside: false, why: `slipway refuses links (${rel})` };
}

// ---------------------------------------------------------------- the bench

try {
  say(`${FILES} files, ${mib(BYTES)} asked, seed ${SEED}, in ${root}`);
  say(`file system: ${await describeFileSystem(root)}`);
  let links = false;
  let outsideLink = false;
  if (WANT_LINKS) {
    const probe = await phase('link probe', probeLinks);
    if (probe) {
      links = probe.relative;
      outsideLink = probe.outside;
      say(`link probe: ${probe.why}`);
    }
  }
  const linkNote = !WANT_LINKS ? 'no links (BIG_RELEASE_LINKS=0)' : !links ? 'NO LINKS: slipway refused them' : outsideLink ? 'with links' : 'with links, but none out of the tree';

  const cache = path.join(root, 'cache');
  const tree = await generateBigTree(cache, { files: FILES, bytes: BYTES, seed: SEED, links, outsideLink });
  say(
    `tree: ${tree.files} files in ${tree.packages} packages, ${mib(tree.bytes)} (${tree.largeFiles} large files ${mib(tree.largeBytes)}, ` +
      `${mib(tree.incompressibleBytes)} incompressible), ${tree.links.length} links — ${linkNote}; generated in ${sec(tree.ms)}`,
  );

  const repo = path.join(root, 'repo');
  const home = path.join(root, 'home');
  const store = path.join(home, 'store');
  mkdirSync(home);
  const port = await freePort();
  const buildCommand = `cp -a ${quote(cache)}/. .`;
  await initRepo(repo);
  writeFileSync(path.join(repo, 'server.js'), SERVER('big'));
  writeFileSync(path.join(repo, 'package.json'), '{ "name": "big", "version": "1.0.0", "private": true }\n');
  writeFileSync(path.join(repo, 'slipway.yml'), slipwayYml({ app: 'big', port, buildCommands: [buildCommand] }));
  await commitAndTag(repo, 'v1', 'big v1');

  // (a) The build command alone, in a plain export of the same commit (also the baseline tree for tar).
  const plain = path.join(root, 'plain');
  mkdirSync(plain);
  await run('sh', ['-c', `git -C ${quote(repo)} archive v1 | tar -x -C ${quote(plain)}`]);
  await settle(TMP);
  const commandMs = await phase('(a) build command alone', () => timeShell(buildCommand, plain));
  const storeEmpty = await duBytes(store);
  await settle(TMP);
  const v1 = await phase('(a) slipway build v1', () => cliOk(home, repo, ['build', '--ref', 'v1', '--version', 'v1']));
  const storeV1 = await duBytes(store);
  if (commandMs !== undefined) {
    say(`(a) build overhead: slipway build ${v1 ? sec(v1.ms) : 'failed'} vs the build command alone (cp -a) ${sec(commandMs)}: ${v1 ? ratio(v1.ms, commandMs) : 'n/a'}`);
  }
  if (v1) say(`(a) ${ownTime(v1)}`);

  const changed = await mutateOneFile(repo);
  await commitAndTag(repo, 'v2', `big v2: one line of ${changed}`);
  await settle(TMP);
  const v2 = await phase('(a) slipway build v2', () => cliOk(home, repo, ['build', '--ref', 'v2', '--version', 'v2']));
  const storeV2 = await duBytes(store);
  if (v2 && commandMs !== undefined) {
    say(`(a) build of the one-file change: slipway build ${sec(v2.ms)} vs the build command alone ${sec(commandMs)}: ${ratio(v2.ms, commandMs)}`);
  }
  if (v2) say(`(a) one-file change: ${ownTime(v2)}`);
  if (v1 && v2) {
    const full = storeV1 - storeEmpty;
    const delta = storeV2 - storeV1;
    say(`(b) store bytes: one-file change (${changed}) added ${mib(delta)} vs ${mib(full)} for the full release: ${ratio(delta, full)}`);
  }

  // Baseline for (c) and (d): the same tree as a tar.gz, extracted by tar.
  const archive = path.join(root, 'plain.tar.gz');
  const tarMs: number[] = [];
  const tarOnce = async () => {
    const dest = path.join(root, `tar-${tarMs.length}`);
    mkdirSync(dest);
    await settle(TMP);
    tarMs.push(await timeShell(`tar -xzf ${quote(archive)} -C ${quote(dest)}`, root));
    rmSync(dest, { recursive: true, force: true });
  };
  const archived = await phase('tar -czf of the tree', async () => {
    await timeShell(`tar -czf ${quote(archive)} -C ${quote(plain)} .`, root);
    rmSync(plain, { recursive: true, force: true });
    await tarOnce();
    return true;
  });
  // Median of the runs, taken before, between and after the deploys, so that machine noise hits both alike.
  const tarBaseline = () => {
    const sorted = [...tarMs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };

  const agent = await phase('agent', () => startAgent(repo, home));
  let deployedV1: { wall: number; fetch: number; watch: { ms: number; detail: string | null } } | undefined;
  let deployedV2: { wall: number; fetch: number; detail: string | null } | undefined;
  if (agent && v1) {
    deployedV1 = await phase('(c) deploy v1', async () => {
      await settle(TMP);
      const { ms, output } = await cliOk(home, repo, ['deploy', 'production', '--version', 'v1', '--yes']);
      return { wall: ms, fetch: await stepMs(home, repo, 'fetch'), watch: { ms: await stepMs(home, repo, 'watch'), detail: stepLine(output, 'watch') } };
    });
  }
  if (archived) await phase('tar -xzf (second run)', tarOnce);
  if (agent && v2 && deployedV1) {
    deployedV2 = await phase('(d) deploy v2', async () => {
      await settle(TMP);
      const { ms, output } = await cliOk(home, repo, ['deploy', 'production', '--version', 'v2', '--yes']);
      return { wall: ms, fetch: await stepMs(home, repo, 'fetch'), detail: stepLine(output, 'fetch') };
    });
  }
  // The floor of any install that makes a release folder of hard links: `cp -al` of an installed release (its folders and links, nothing fetched or checked).
  let linkFloorMs: number | undefined;
  if (deployedV2) {
    linkFloorMs = await phase('(d) cp -al floor', async () => {
      const copy = path.join(root, 'cp-al');
      await settle(TMP);
      const ms = await timeShell(`cp -al ${quote(path.join(home, 'hosts', 'big', 'production', 'current'))}/. ${quote(copy)}`, root);
      await run('chmod', ['-R', 'u+w', copy]);
      rmSync(copy, { recursive: true, force: true });
      return ms;
    });
  }
  if (archived) await phase('tar -xzf (third run)', tarOnce);
  if (tarMs.length > 0) {
    const base = tarBaseline();
    const runs = `tar -xzf ${sec(base)} (median of ${tarMs.map(sec).join(', ')})`;
    if (deployedV1) say(`(c) fresh install: fetch+verify+extract ${sec(deployedV1.fetch)} vs ${runs}: ${ratio(deployedV1.fetch, base)} (whole deploy ${sec(deployedV1.wall)})`);
    if (deployedV2) say(`(d) one-file change install: fetch+verify+extract ${sec(deployedV2.fetch)} vs ${runs}: ${ratio(deployedV2.fetch, base)} (whole deploy ${sec(deployedV2.wall)})`);
    if (deployedV2) say(`(d) how: ${deployedV2.detail ?? '?'}`);
    if (deployedV1) say(`(d) the copy it was made from, prepared in v1's deploy while its 1 s health window ran: ${deployedV1.watch.detail ?? '?'} (watch step ${sec(deployedV1.watch.ms)})`);
    if (deployedV2 && linkFloorMs) say(`(d) floor: cp -al of the installed release (its folders and hard links, nothing fetched or checked) ${sec(linkFloorMs)}: ${ratio(linkFloorMs, base)} tar -xzf; slipway's install is ${ratio(deployedV2.fetch, linkFloorMs)} it`);
  }

  if (deployedV1) {
    await phase('(e) verify', async () => {
      const current = path.join(home, 'hosts', 'big', 'production', 'current');
      const hashMs = await timeShell(`find . -type f -print0 | xargs -0 sha256sum > /dev/null`, current);
      const { ms, result } = await timedCli(home, repo, ['verify', 'production']);
      if (result.code !== 0) throw new Error(`slipway verify production: ${firstLines(result)}`);
      say(`(e) verify of the untouched release: slipway verify ${sec(ms)} vs sha256sum of its files ${sec(hashMs)}: ${ratio(ms, hashMs)}`);
      // A verify that re-hashes every file, where slipway has one.
      const full = await timedCli(home, repo, ['verify', 'production', '--full']);
      if (full.result.code === 0) say(`(e) verify --full (every file hashed again): ${sec(full.ms)} vs sha256sum ${sec(hashMs)}: ${ratio(full.ms, hashMs)}`);
      else if (full.result.code !== 2) throw new Error(`slipway verify production --full: ${firstLines(full.result)}`);
    });
  }

  if (deployedV2) {
    await phase('(f) rollback', async () => {
      // This sandbox sets NODE_EXTRA_CA_CERTS to the system's CA bundle: every Node start then reads and parses it
      // (about 60 ms here), before any of slipway's code runs. A server does not usually set it: the series runs as
      // this environment stands, then again without it, and both are printed.
      const extraCerts = process.env.NODE_EXTRA_CA_CERTS !== undefined;
      let serving = '';
      const series = async (env: NodeJS.ProcessEnv, label: string) => {
        const r = await warmRollbacks(home, repo, port, env);
        serving = await answers(port);
        say(`(f) warm rollback${label}, ${r.runs} in turn (v2 → v1, v1 → v2, …), medians: slipway rollback ${sec(r.wallMs)} vs a bare slipway status ${(r.statusMs / 1000).toFixed(2)} s: ${ratio(r.wallMs, r.statusMs)}`);
        say(`(f) warm rollback${label}: the old version answers ${r.answeredMs.toFixed(0)} ms after the command starts (median; each: ${r.answeredEach.map((ms) => ms.toFixed(0)).join(', ')} ms; target 150 ms)`);
        say(`(f) warm rollback${label}: the request reaches the agent ${r.receivedMs.toFixed(0)} ms after the command starts, whose steps take ${r.toSwitchMs.toFixed(0)} ms to the end of the switch (medians; a bare node -e 0 takes ${r.nodeMs.toFixed(0)} ms)`);
      };
      const dirty = () => /^Dirty:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? '?';
      say(`(f) right after the deploys and verify (${dirty()} kB of dirty pages waiting to be written back):`);
      await series({}, extraCerts ? ' (NODE_EXTRA_CA_CERTS set, as in this sandbox)' : '');
      const server = extraCerts ? { NODE_EXTRA_CA_CERTS: undefined } : {};
      const onServer = extraCerts ? ' (without NODE_EXTRA_CA_CERTS, as on a server)' : '';
      if (extraCerts) await series(server, onServer);
      // A rollback usually comes minutes after the deploy it undoes, once the disk has written it back.
      const syncMs = await timeShell('sync', repo);
      say(`(f) once the disk has written back what the deploys wrote (sync took ${sec(syncMs)}; ${dirty()} kB dirty now):`);
      await series(server, onServer);
      say(`(f) /version now answers ${serving}`);
    });
  }
  say(`done in ${sec(performance.now() - started)}${failures > 0 ? `, ${failures} phase(s) failed` : ''}`);
} catch (error) {
  failures += 1;
  say(`FAILED: ${(error as Error).stack ?? error}`);
} finally {
  for (const agent of agents) await agent.stop().catch(() => undefined);
  for (const p of processesUnder(root)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (KEEP) {
    say(`kept ${root}`);
  } else {
    await run('chmod', ['-R', 'u+w', root]).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
process.exitCode = failures > 0 ? 1 : 0;
