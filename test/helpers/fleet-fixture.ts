/**
 * A fleet of "remote" hosts for end-to-end tests: each host is a real sshd on
 * loopback (or in a network namespace) with a root folder of its own; the CLI
 * reaches them over SSH exactly as it would reach servers, through an ssh_config
 * given in SLIPWAY_SSH_CONFIG. The notes example app is built into the CLI's
 * store; its v2 carries a hook that fails on a host holding shared/fail-deploy,
 * so a test can make one host's update fail.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, git, runCli, type CliResult } from './cli.js';
import { freePort } from './free-port.js';
import { killQuietly, waitForProcessesUnder } from './processes.js';
import { removeTree } from './temp-dir.js';
import { createClientKeys, startSshd, writeSshClientConfig, type RunningSshd } from './sshd.js';
import { createNetnsHost, type NetnsHost } from './netns.js';
import { createCliBundle } from '../../src/remote/cli-bundle.js';

export interface FleetHostSpec {
  name: string;
  dependsOn?: string[];
  /** run this host's sshd (and so its agent and app) in a network namespace of its own */
  netns?: boolean;
  /** variables the host's SSH sessions get (its own credentials for the store) */
  sessionEnv?: Record<string, string>;
}

export interface FleetHost {
  name: string;
  root: string;
  /** where its proxy answers, from the test's side */
  address: string;
  port: number;
  sshd: RunningSshd;
  netns: NetnsHost | null;
}

export interface Fleet {
  dir: string;
  repo: string;
  home: string;
  configFile: string;
  sshConfig: string;
  knownHosts: string;
  hosts: Map<string, FleetHost>;
  /** runs the CLI against the fleet's project file */
  cli(args: string[], options?: { env?: Record<string, string | undefined>; timeoutMs?: number; onStderr?: (chunk: string) => void; input?: string }): Promise<CliResult>;
  /** GET on a host's proxy */
  get(host: string, pathName: string): Promise<{ status: number; body: string }>;
  /** the deployments in a host's own ledger, oldest first */
  ledgerDeployments(host: string): { kind: string; toVersion: string; outcome: string | null; startedAt: string; finishedAt: string | null }[];
  /** columns of the notes table on a host (v2's migration adds `words`) */
  noteColumns(host: string): string[];
  /** makes the next update of this host fail (v2's after_start hook) */
  failNextDeploy(host: string, fail: boolean): void;
}

const Database = createRequire(path.join(REPO_ROOT, 'package.json'))('better-sqlite3') as typeof import('better-sqlite3');

type FixtureScript = { createNotesFixtureRepo(dest: string, options: Record<string, unknown>): Promise<unknown> };

export async function createFleet(
  t: { after(fn: () => unknown): void },
  specs: FleetHostSpec[],
  options: {
    healthWindow?: string;
    /** the environment's store, as YAML flow text (default: the local store), and the CLI's variables for it */
    store?: { yaml: string; env: Record<string, string> };
    /** build v1 and v2 into the local store (default true) */
    build?: boolean;
    /**
     * a stateless app instead of the notes app: no `data:`, no migration, a web service that
     * answers /version; its health check fails on a host holding <root>/fail-health
     */
    stateless?: boolean;
    /**
     * another app instead of the notes app: writes its git repository (tags v1 and v2, HEAD's
     * slipway.yml ending with its `environments:`) into the folder given; no failing hook is added
     */
    app?: (repo: string) => Promise<void>;
    /** lines for the `Host *` block of the fleet's ssh_config (e.g. a ProxyCommand) */
    sshOptions?: string[];
  } = {},
): Promise<Fleet> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-fleet-')));
  const home = path.join(dir, 'home');
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(home);
  const keys = await createClientKeys();
  const hosts = new Map<string, FleetHost>();
  const cleanups: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    // Agents first (they run the apps), then the SSH servers and namespaces.
    for (const host of hosts.values()) {
      const configFile = path.join(host.root, 'slipway.yml');
      // The host's own environment comes first in its file; a staging host's file also names its data copy's source.
      const environment = fs.existsSync(configFile) ? Object.keys((parseYaml(fs.readFileSync(configFile, 'utf8')) as { environments?: object }).environments ?? {})[0] : undefined;
      const stopped = await runCli(['agent', '--stop', ...(environment ? ['--env', environment] : []), '--config', configFile], { cwd: host.root, home: host.root, timeoutMs: 30_000 }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
      if (stopped.code !== 0) process.stderr.write(`fleet teardown: agent --stop on ${host.name} said (${stopped.code}): ${stopped.stderr}\n`);
    }
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    fs.rmSync(keys.dir, { recursive: true, force: true });
    // `agent --stop` returns once the agent stopped answering; its process ends just after.
    const left = await waitForProcessesUnder(dir, 10_000);
    for (const p of left) killQuietly(p.pid);
    removeTree(dir);
    if (left.length > 0) throw new Error(`processes left running under the fleet: ${left.map((p) => p.cmd).join('; ')}`);
  });

  for (const spec of specs) {
    const netns = spec.netns ? await createNetnsHost(spec.name) : null;
    if (netns) cleanups.push(() => netns.destroy());
    const sshd = await startSshd({ name: spec.name, keys, ...(netns ? { address: netns.hostAddress, netns: netns.netns } : {}), ...(spec.sessionEnv ? { setEnv: spec.sessionEnv } : {}) });
    cleanups.push(() => sshd.stop());
    const root = path.join(dir, 'hosts', spec.name);
    // A host in a namespace listens on its own address, so any port is free there.
    const port = await freePort();
    hosts.set(spec.name, { name: spec.name, root, address: netns ? netns.hostAddress : '127.0.0.1', port, sshd, netns });
  }
  const { configFile: sshConfig, knownHostsFile: knownHosts } = await writeSshClientConfig({ file: path.join(dir, 'ssh_config'), keys, hosts: [...hosts.values()].map((h) => h.sshd), ...(options.sshOptions ? { extraOptions: options.sshOptions } : {}) });

  if (options.app) await options.app(repo);
  else {
    const script = (await import(pathToFileURL(path.join(REPO_ROOT, 'examples', 'make-fixture-repo.js')).href)) as FixtureScript;
    await script.createNotesFixtureRepo(repo, { port: 8080, healthWindow: options.healthWindow ?? '300ms', drainTimeout: '1s', ...(options.stateless ? { healthDeadline: '4s' } : {}) });
    if (options.stateless) makeStateless(repo);
    // v2 learns to fail on demand: a hook after its services started, before the switch.
    git(repo, 'checkout', '-q', 'v2');
    const yml = fs.readFileSync(path.join(repo, 'slipway.yml'), 'utf8');
    fs.writeFileSync(
      path.join(repo, 'slipway.yml'),
      `${yml.replace(/\nenvironments:/, `\nhooks:\n  after_start:\n    - 'if test -e ../../shared/fail-deploy; then echo "this host is told to fail (shared/fail-deploy)" >&2; exit 1; fi'\nenvironments:`)}`,
    );
    git(repo, 'commit', '-q', '-am', 'v2: a hook that fails on demand');
    git(repo, 'tag', '-f', 'v2');
    git(repo, 'checkout', '-q', 'v3');
  }

  const base = fs.readFileSync(path.join(repo, 'slipway.yml'), 'utf8').replace(/\nenvironments:[\s\S]*$/, '\n');
  const hostLines = [...hosts.values()].flatMap((h) => {
    const spec = specs.find((s) => s.name === h.name)!;
    return [
      `      ${h.name}:`,
      `        ssh: ${h.sshd.url}`,
      `        root: ${h.root}`,
      `        port: ${h.port}`,
      ...(h.netns ? [`        bind: ${h.address}`] : []),
      ...(spec.dependsOn?.length ? [`        depends_on: [${spec.dependsOn.join(', ')}]`] : []),
    ];
  });
  const configFile = path.join(repo, 'fleet.yml');
  fs.writeFileSync(configFile, `${base}environments:\n  production:\n    port: 8080\n${options.store ? `    store: ${options.store.yaml}\n` : ''}    health_window: ${options.healthWindow ?? '300ms'}\n    drain_timeout: 1s\n    hosts:\n${hostLines.join('\n')}\n`);

  const cli: Fleet['cli'] = (args, o = {}) =>
    // --config goes before a `--`, after which everything belongs to the command `exec` runs.
    runCli(args.includes('--') ? [...args.slice(0, args.indexOf('--')), '--config', configFile, ...args.slice(args.indexOf('--'))] : [...args, '--config', configFile], {
      cwd: repo,
      home,
      env: { SLIPWAY_SSH_CONFIG: sshConfig, SLIPWAY_WHO: 'fleet-test', ...options.store?.env, ...o.env },
      timeoutMs: o.timeoutMs ?? 180_000,
      ...(o.onStderr ? { onStderr: o.onStderr } : {}),
      ...(o.input === undefined ? {} : { input: o.input }),
    });
  await seedCliBundle(home);
  for (const version of options.build === false ? [] : ['v1', 'v2']) {
    const built = await runCli(['build', '--ref', version], { cwd: repo, home, timeoutMs: 60_000 });
    if (built.code !== 0) throw new Error(`build ${version}: ${built.stderr}`);
  }

  return {
    dir,
    repo,
    home,
    configFile,
    sshConfig,
    knownHosts,
    hosts,
    cli,
    get: (host, pathName) => httpGet(hosts.get(host)!.address, hosts.get(host)!.port, pathName),
    ledgerDeployments(host) {
      const db = new Database(path.join(hosts.get(host)!.root, 'ledger.db'), { readonly: true });
      try {
        return db.prepare('SELECT kind, to_version AS toVersion, outcome, started_at AS startedAt, finished_at AS finishedAt FROM deployments ORDER BY id').all() as ReturnType<Fleet['ledgerDeployments']>;
      } finally {
        db.close();
      }
    },
    noteColumns(host) {
      const db = new Database(path.join(hosts.get(host)!.root, 'shared', 'data', 'notes.db'), { readonly: true });
      try {
        return (db.prepare('PRAGMA table_info(notes)').all() as { name: string }[]).map((c) => c.name);
      } finally {
        db.close();
      }
    },
    failNextDeploy(host, fail) {
      const marker = path.join(hosts.get(host)!.root, 'shared', 'fail-deploy');
      if (fail) fs.writeFileSync(marker, 'fail\n');
      else fs.rmSync(marker, { force: true });
    },
  };
}

let bundleOnce: Promise<string> | undefined;

/**
 * `setup` packs slipway into a bundle (seconds of tar and gzip) and keeps it in the home's cache. Every
 * fleet starts with a bundle made once per test run (scripts/run-tests.js gives the run a shared
 * folder, SLIPWAY_TEST_RUN_DIR; alone, once per process), copied in so that teardown owns its copy.
 * `setup` still checks the cached bundle against its inputs, as it does for a user.
 */
async function seedCliBundle(home: string): Promise<void> {
  bundleOnce ??= (async () => {
    const shared = process.env.SLIPWAY_TEST_RUN_DIR;
    const dir = shared ? path.join(shared, 'cli-bundles') : fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-test-bundle-'));
    if (!shared) process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    // Two test files may build it at once: each writes a temp file and renames it into place.
    await createCliBundle({ installDir: REPO_ROOT, cacheDir: dir });
    return dir;
  })();
  const from = await bundleOnce;
  const to = path.join(home, 'cache', 'bundles');
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) if (!name.endsWith('.tmp')) fs.copyFileSync(path.join(from, name), path.join(to, name));
}

/** Rewrites v1, v2 and v3 of the notes repo into a stateless web service (same tags, same port). */
function makeStateless(repo: string): void {
  for (const version of ['v1', 'v2', 'v3']) {
    git(repo, 'checkout', '-q', version);
    for (const name of fs.readdirSync(repo)) if (name !== '.git' && name !== 'slipway.yml') fs.rmSync(path.join(repo, name), { recursive: true, force: true });
    fs.writeFileSync(path.join(repo, 'package.json'), `${JSON.stringify({ name: 'notes', private: true, type: 'module', scripts: { start: 'node server.js' } }, null, 2)}\n`);
    // The service runs in its release folder, releases/<id>/, so the host's root is two levels up.
    fs.writeFileSync(
      path.join(repo, 'server.js'),
      [
        "import fs from 'node:fs';",
        "import http from 'node:http';",
        `const VERSION = '${version}';`,
        'http.createServer((req, res) => {',
        "  if (req.url === '/healthz') {",
        "    const failing = fs.existsSync('../../fail-health');",
        "    res.writeHead(failing ? 503 : 200).end(failing ? 'told to fail (fail-health)' : 'ok');",
        "  } else if (req.url === '/version') res.end(VERSION);",
        '  else res.end(`stateless ${VERSION}`);',
        '}).listen(Number(process.env.PORT));',
        '',
      ].join('\n'),
    );
    const yml = fs.readFileSync(path.join(repo, 'slipway.yml'), 'utf8');
    fs.writeFileSync(path.join(repo, 'slipway.yml'), yml.replace(/\ndata:\n(?:  .*\n)+/, '\n').replace(/\nmigrate:\n(?:  .*\n)+/, '\n'));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', `stateless ${version}`);
    git(repo, 'tag', '-f', version);
  }
}

function httpGet(host: string, port: number, pathName: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: pathName, timeout: 5_000, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (error) => resolve({ status: 0, body: error.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}
