/**
 * A compose stack end to end, through the built CLI and a real Docker engine: the notes
 * app's web and worker built from its Dockerfile, PostgreSQL as an accessory. From
 * `init --from-compose` (nothing written by hand but what the test shortens) to v1, v2 with
 * a migration under load with no failed request, a v3 that fails and is undone with its
 * data, `rollback --with-data`, verify, and prune removing old releases' containers.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { CLI_PATH, REPO_ROOT, freePort, makeSandbox, testRunnerEnv, type CliResult, type Sandbox } from '../helpers/cli.js';
import { ensureNodeBaseImage, removeContainersOf, requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage } from '../helpers/docker-postgres.js';
import { waitUntil } from '../helpers/wait-until.js';

const APP = 'notes-stack-e2e';

interface StackRepo {
  createNotesStackRepo(dest: string, o: { baseImage: string; postgresImage: string; dbPort: number }): Promise<{ dir: string }>;
  commitNotesStackVersion(dir: string, tag: string): Promise<void>;
}

function describe(r: CliResult): string {
  return `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
}

function request(port: number, method: string, urlPath: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** `slipway logs <args> -f` running in the background: what it printed so far, and a Ctrl-C that resolves with its exit code. */
function followLogs(sandbox: Sandbox, cwd: string, args: string[]): { output(): string; interrupt(): Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_PATH, 'logs', ...args, '--follow'], { cwd, env: { ...testRunnerEnv(), SLIPWAY_HOME: sandbox.home, TMPDIR: sandbox.tmp, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    output: () => output,
    async interrupt() {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

function containers(filter: string[]): string[] {
  const out = execFileSync('docker', ['ps', '-a', '--format', '{{.Names}} {{.State}}', '--filter', `label=dev.slipway.app=${APP}`, ...filter.flatMap((f) => ['--filter', f])], { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).sort();
}

test('a compose stack: init --from-compose, zero-downtime v1 → v2 with a migration, failed v3 undone, rollback --with-data, prune', { timeout: 600_000 }, async (t) => {
  if (!requireDocker(t)) return;
  removeContainersOf(APP); // an earlier run cut short leaves its accessory (same name) behind
  // Registered before the sandbox's own cleanup, which removes the folders the agent runs from.
  let stopAgent = async () => {};
  t.after(async () => {
    await stopAgent();
    removeContainersOf(APP);
  });
  const sandbox = makeSandbox(t);
  const [proxyPort, dbPort] = [await freePort(), await freePort()];
  const stack = (await import(pathToFileURL(path.join(REPO_ROOT, 'examples', 'make-stack-repo.js')).href)) as StackRepo;
  const { dir } = await stack.createNotesStackRepo(path.join(sandbox.root, APP), { baseImage: ensureNodeBaseImage(), postgresImage: ensurePostgresImage(), dbPort });
  const cli = (args: string[], timeoutMs = 120_000) => sandbox.run(args, { cwd: dir, timeoutMs });
  stopAgent = async () => void (await cli(['agent', '--stop', '--env', 'production']));

  const init = await cli(['init', '--from-compose', 'compose.yml', '--yes']);
  assert.equal(init.code, 0, describe(init));
  const password = /POSTGRES_PASSWORD=(\S+)/.exec(fs.readFileSync(path.join(dir, 'db.env'), 'utf8'))![1]!;
  const yml = fs.readFileSync(path.join(dir, 'slipway.yml'), 'utf8');
  assert.equal(yml.includes(password), false, 'the password stays out of slipway.yml');
  assert.equal(`${init.stdout}${init.stderr}`.includes(password), false, 'and out of the output');
  assert.match(yml, /main: \{ engine: postgres, url_env: DATABASE_URL, accessory: db \}/);
  // The test's one edit: its own ports and a short health window (the file says 8000 and 10s).
  fs.writeFileSync(path.join(dir, 'slipway.yml'), yml.replace(/port: 8000 /, `port: ${proxyPort} `).replace(/health_window: 10s/, 'health_window: 1s'));
  for (const tag of ['v1', 'v2', 'v3']) await stack.commitNotesStackVersion(dir, tag);
  for (const tag of ['v1', 'v2', 'v3']) {
    const built = await cli(['build', '--ref', tag], 300_000);
    assert.equal(built.code, 0, describe(built));
    assert.match(built.stdout, /image {4}web sha256:[0-9a-f]{12}/);
  }

  const accessory = await cli(['accessory', 'start', 'production']);
  assert.equal(accessory.code, 0, describe(accessory));
  const v1 = await cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, describe(v1));
  assert.equal((await request(proxyPort, 'POST', '/api/notes', { text: 'written on v1' })).status, 201);

  // v2 migrates while a client reads and writes through the proxy: nothing fails.
  let running = true;
  const failures: string[] = [];
  let answered = 0;
  const load = (async () => {
    while (running) {
      const r = await request(proxyPort, 'GET', '/api/notes').catch((error: Error) => ({ status: 0, text: error.message }));
      if (r.status === 200) answered += 1;
      else failures.push(`${r.status} ${r.text.slice(0, 80)}`);
    }
  })();
  const v2 = await cli(['deploy', 'production', '--version', 'v2', '--yes']);
  running = false;
  await load;
  assert.equal(v2.code, 0, describe(v2));
  assert.deepEqual(failures, [], `failed requests during v1 → v2 (${answered} answered)`);
  assert.ok(answered > 20, `the load ran through the update (${answered} answers)`);
  assert.match(v2.stdout + v2.stderr, /✓ backup .*verified/);
  assert.match(v2.stdout + v2.stderr, /migrate: applied 2/);
  const notesOnV2 = JSON.parse((await request(proxyPort, 'GET', '/api/notes')).text) as { text: string; words?: number }[];
  assert.equal(notesOnV2[0]!.words, 3, 'the migration ran against the accessory');

  // v3 fails its health check: its migration run is undone and v2 keeps serving its data.
  const v3 = await cli(['deploy', 'production', '--version', 'v3', '--yes']);
  assert.equal(v3.code, 1, describe(v3));
  assert.match(v3.stderr, /rolled back: v2 is serving/);
  assert.equal((await request(proxyPort, 'GET', '/version')).text.trim(), 'v2');
  assert.deepEqual(containers(['label=dev.slipway.role=command']), [], 'no one-off container is left');

  // rollback --with-data: v1's code and the data as it was before v2 (the word count column gone).
  assert.equal((await request(proxyPort, 'POST', '/api/notes', { text: 'written on v2' })).status, 201);
  const back = await cli(['rollback', 'production', '--with-data', '--yes']);
  assert.equal(back.code, 0, describe(back));
  assert.equal((await request(proxyPort, 'GET', '/version')).text.trim(), 'v1');
  const notesOnV1 = JSON.parse((await request(proxyPort, 'GET', '/api/notes')).text) as { text: string; words?: number }[];
  assert.deepEqual(notesOnV1.map((n) => n.text), ['written on v1']);
  assert.equal(notesOnV1[0]!.words, undefined);

  const verify = await cli(['verify', 'production']);
  assert.equal(verify.code, 0, describe(verify));
  assert.match(verify.stdout, /its containers run the release's images, unchanged/);
  const running1 = containers(['status=running', 'label=dev.slipway.role=service']);
  assert.equal(running1.length, 2, running1.join('\n'));
  assert.ok(running1.every((c) => c.includes('-green-') || c.includes('-blue-')));

  await t.test('slipway logs shows what the serving containers print, and follows it', async () => {
    // The serving slot's log: slipway's start line for the container (its image), then the app's own output.
    const web = await cli(['logs', 'production', '-n', '50']);
    assert.equal(web.code, 0, describe(web));
    assert.match(web.stdout, /\[slipway\] starting web\.(blue|green)( \(restart \d+\))? from image [0-9a-f]{12}: node server\.js\n[\s\S]*notes v1: listening on http:\/\/127\.0\.0\.1:\d+/, describe(web));
    const worker = await cli(['logs', 'production', '--service', 'worker', '-n', '50']);
    assert.equal(worker.code, 0, describe(worker));
    assert.match(worker.stdout, /\[slipway\] starting worker\.(blue|green).* from image [0-9a-f]{12}: node worker\.js/, describe(worker));
    assert.match(worker.stdout, /worker v1: /, describe(worker));
    assert.doesNotMatch(worker.stdout, /notes v1: listening/, "the worker's log is its own");

    // --follow: a line the container prints after the command started reaches it; Ctrl-C ends it.
    const follow = followLogs(sandbox, dir, ['production', '-n', '0']);
    try {
      // Asked again each second: a line printed before the command had started to watch is not its to show.
      let asked = 0;
      await waitUntil('a new line in `slipway logs --follow`', async () => {
        if (follow.output().includes('notes v1: slow request: answering in 17 ms')) return true;
        if (Date.now() - asked > 1_000) {
          asked = Date.now();
          assert.equal((await request(proxyPort, 'GET', '/slow?ms=17')).status, 200);
        }
        return false;
      }, 20_000, { explain: follow.output });
    } finally {
      assert.equal(await follow.interrupt(), 0, follow.output());
    }
  });

  // Keeping only current (v1) and previous (v2), prune removes v3 and its (stopped) containers.
  const v3Id = /v3 \(([0-9a-f]{12})\)/.exec(v3.stderr)![1]!;
  assert.ok(containers([]).some((c) => c.includes(v3Id)), 'the failed v3 left stopped containers until pruned');
  const pruned = await cli(['prune', 'production', '--keep', '0']);
  assert.equal(pruned.code, 0, describe(pruned));
  assert.match(pruned.stdout, /removed v3/);
  const after = containers([]);
  assert.deepEqual(after.filter((c) => c.includes(v3Id)), [], `v3's containers went with it:\n${after.join('\n')}`);
  assert.equal(after.filter((c) => c.endsWith('running')).length, 3, `the serving ones and the accessory stay:\n${after.join('\n')}`);
});
