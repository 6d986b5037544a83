// Issue 14, "Migrations and one-off commands": `slipway exec <env> -- <command…>` on a release
// whose web service runs as a container runs the command in a one-off container of that image,
// through the built CLI against a real Docker engine: with the service's environment (its own
// env and the app's config from the host env file), its data folder mounted, host networking,
// stdin passed in, and the container removed afterwards. A failing command fails the exec.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI_PATH, describeRun, freePort, makeSandbox, testRunnerEnv } from '../helpers/cli.js';
import { containersWith, inspectContainer } from '../helpers/container-app.js';
import { spawnSync } from 'node:child_process';
import { ensureNodeBaseImage, removeContainersOf, requireDocker } from '../helpers/docker.js';
import { removeImagesOf } from '../helpers/image-repo.js';
import { startAgentProcess } from '../helpers/processes.js';
import { makeRepo } from '../release/repo-fixture.js';

const SERVER = `const http = require('node:http');
http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'v1')).listen(Number(process.env.PORT), '127.0.0.1');
`;

/** A container app (web built FROM the node base image, data folder uploads) built and deployed to production, its agent running. */
async function deployedContainerApp(t: TestContext) {
  ensureNodeBaseImage();
  const sandbox = makeSandbox(t);
  const repo = makeRepo(t);
  const app = `exec-${randomBytes(4).toString('hex')}`;
  t.after(() => {
    removeContainersOf(app);
    removeImagesOf(app);
  });
  const port = await freePort();
  repo.write('Dockerfile', 'FROM slipway-test/node-base:1\nCOPY server.js /app/server.js\nCMD ["/usr/bin/node", "/app/server.js"]\n');
  repo.write('server.js', SERVER);
  repo.write(
    'slipway.yml',
    [
      `app: ${app}`,
      'services:',
      '  web:',
      '    build: .',
      '    env: { GREETING: from-the-service }',
      '    health: { path: /healthz, interval: 100ms }',
      'config:',
      '  REPORT_TITLE: { required: true }',
      'data:',
      '  folders: [uploads]',
      'environments:',
      '  production:',
      `    port: ${port}`,
      '    health_window: 300ms',
      '    drain_timeout: 1s',
      '',
    ].join('\n'),
  );
  repo.commit('v1');
  repo.git('tag', 'v1');
  const run = (args: string[], input?: string) => sandbox.run(args, { cwd: repo.dir, timeoutMs: 180_000, ...(input === undefined ? {} : { input }) });
  const built = await run(['build', '--ref', 'v1']);
  assert.equal(built.code, 0, describeRun(built));
  assert.equal((await run(['config', 'production', 'set', 'REPORT_TITLE=weekly'])).code, 0);
  const agent = await startAgentProcess({ cli: CLI_PATH, cwd: repo.dir, environment: 'production', detached: false, env: { ...testRunnerEnv(), SLIPWAY_HOME: sandbox.home, NO_COLOR: '1' } });
  t.after(() => agent.stop());
  const deployed = await run(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(deployed.code, 0, describeRun(deployed));
  const hostRoot = path.join(sandbox.home, 'hosts', app, 'production');
  return { app, run, hostRoot, home: sandbox.home, dir: repo.dir };
}

test('exec runs the command in a one-off container of the release image, with its env, mounts and stdin, and removes it', { timeout: 300_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const { app, run, hostRoot, home, dir } = await deployedContainerApp(t);
  const servicesBefore = containersWith({ 'dev.slipway.app': app, 'dev.slipway.role': 'service' });
  assert.ok(servicesBefore.length >= 1, 'the web service runs as a container');

  // The service's env, the app's config from the host env file, slipway's variables; no host PATH.
  const env = await run(['exec', 'production', '--', 'node', '-e', 'const e = process.env; console.log(JSON.stringify({ g: e.GREETING, t: e.REPORT_TITLE, env: e.SLIPWAY_ENV, v: e.SLIPWAY_VERSION, path: e.PATH, cwd: process.cwd() }))']);
  assert.equal(env.code, 0, describeRun(env));
  const seen = JSON.parse(env.stdout.trim()) as Record<string, string>;
  assert.deepEqual({ ...seen, path: undefined }, { g: 'from-the-service', t: 'weekly', env: 'production', v: 'v1', cwd: '/app', path: undefined });
  assert.equal(seen.path, '/usr/local/bin:/usr/bin:/bin', "the image's PATH, not the host's");

  // The data folder is the host's shared one: a file written in the container is there after it is gone.
  // (the image holds node and sh only)
  const wrote = await run(['exec', 'production', '--', 'node', '-e', "const fs = require('node:fs'); fs.writeFileSync('uploads/from-exec.txt', fs.readFileSync(0)); console.log(fs.readdirSync('uploads').join(' '))"], 'typed on stdin\n');
  assert.equal(wrote.code, 0, describeRun(wrote));
  assert.match(wrote.stdout, /from-exec\.txt/);
  assert.equal(fs.readFileSync(path.join(hostRoot, 'shared', 'uploads', 'from-exec.txt'), 'utf8'), 'typed on stdin\n');

  // Host networking: the command reaches the running service on its loopback port.
  const port = await servicePort(run);
  const reached = await run(['exec', 'production', '--', 'node', '-e', `require('node:http').get('http://127.0.0.1:${port}/', (r) => r.pipe(process.stdout))`]);
  assert.equal(reached.code, 0, describeRun(reached));
  assert.equal(reached.stdout.trim(), 'v1');

  // A failing command: slipway fails (1) and says the command's own code; stderr comes through.
  const failed = await run(['exec', 'production', '--', 'sh', '-c', 'echo broken >&2; exit 42']);
  assert.equal(failed.code, 1, describeRun(failed));
  assert.match(failed.stderr, /broken/);
  assert.match(failed.stderr, /sh exited with code 42 in its container/);

  const missing = await run(['exec', 'production', '--', 'no-such-command']);
  assert.equal(missing.code, 1, describeRun(missing));
  assert.match(missing.stderr, /no-such-command exited with code 127 in its container/);

  await t.test('on a terminal the container gets one: stdin and stdout are TTYs, what is typed reaches it', async (st) => {
    if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) return st.skip('needs `script` (util-linux) to give the command a terminal');
    const line = [process.execPath, CLI_PATH, 'exec', 'production', '--', 'node', '-e', "process.stdin.once('data', (d) => { console.log('tty ' + process.stdin.isTTY + ' ' + process.stdout.isTTY + ' got ' + String(d).trim()); process.exit(7); })"]
      .map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    // script gives the command a pseudo-terminal; what is written to script's stdin is typed on it.
    const typed = spawnSync('script', ['-qefc', line, '/dev/null'], { cwd: dir, input: 'typed-on-the-terminal\n', encoding: 'utf8', timeout: 60_000, env: { ...testRunnerEnv(), SLIPWAY_HOME: home, NO_COLOR: '1' } });
    assert.match(typed.stdout, /tty true true got typed-on-the-terminal/, `${typed.stdout}\n${typed.stderr}`);
    assert.equal(typed.status, 1, 'the command exited 7: slipway fails');
  });

  await t.test('status shows the service container of the release: name, short image id, state; the contract fields unchanged', async () => {
    const status = await run(['status', 'production', '--json']);
    assert.equal(status.code, 0, describeRun(status));
    const report = JSON.parse(status.stdout) as Record<string, unknown> & { current: { id: string; version: string }; slots: { name: string }[]; containers: { service: string; slot: string; releaseId: string; version: string; name: string; imageId: string; state: string }[] };
    for (const key of ['environment', 'url', 'current', 'previous', 'health', 'lock', 'maintenance']) assert.ok(key in report, `${key} is still there`);
    assert.equal(report.current.version, 'v1');
    const web = report.containers.filter((c) => c.service === 'web');
    assert.equal(web.length, 1, JSON.stringify(report.containers));
    const engine = inspectContainer(web[0]!.name)!;
    assert.equal(engine.State.Status, 'running');
    assert.deepEqual(web[0], { service: 'web', slot: report.slots[0]!.name, releaseId: report.current.id, version: 'v1', name: web[0]!.name, imageId: engineImageId(web[0]!.name).slice(0, 12), state: 'running' });
    assert.deepEqual(report.accessories, [], 'no accessories in this project');
    const text = await run(['status', 'production']);
    assert.match(text.stdout, new RegExp(`web\\s+${report.slots[0]!.name}\\s+v1\\s+${web[0]!.name}\\s+${web[0]!.imageId}\\s+running`));
  });

  await t.test('no command container is left, the service containers are untouched', () => {
    assert.deepEqual(containersWith({ 'dev.slipway.app': app, 'dev.slipway.role': 'command' }), []);
    assert.deepEqual(containersWith({ 'dev.slipway.app': app, 'dev.slipway.role': 'service' }), servicesBefore);
  });
});

/** The loopback port the active slot's web service listens on, from `slipway status --json`. */
async function servicePort(run: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>): Promise<number> {
  const status = await run(['status', 'production', '--json']);
  assert.equal(status.code, 0, describeRun(status as never));
  const report = JSON.parse(status.stdout) as { slots: { role: string; services: { name: string; port: number }[] }[] };
  return report.slots.find((s) => s.role === 'active')!.services.find((s) => s.name === 'web')!.port;
}

/** The image id (hex, no sha256: prefix) a container runs. */
function engineImageId(container: string): string {
  return spawnSync('docker', ['container', 'inspect', '--format', '{{.Image}}', container], { encoding: 'utf8' }).stdout.trim().replace(/^sha256:/, '');
}
