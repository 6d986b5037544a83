// `slipway config <env> set KEY` (and `KEY=-`) reads the value from stdin, so a secret is in
// neither argv (`ps` shows it to every user) nor the shell's history: through the built CLI,
// piped in, and typed on a real pseudo-terminal, where it is not echoed. The value lands in
// shared/.env and appears in no output.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { readEnvFile } from '../../src/host/app-env.js';
import { CLI_PATH, describeRun, freePort, makeSandbox, testRunnerEnv, type Sandbox } from '../helpers/cli.js';

const SECRET = 'tok-3f9a1c7e-not-for-argv';

async function project(t: TestContext): Promise<{ sandbox: Sandbox; dir: string; envFile: string }> {
  const sandbox = makeSandbox(t);
  const dir = path.join(sandbox.root, 'app');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'slipway.yml'), `app: tiny\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: ${await freePort()}\n`);
  return { sandbox, dir, envFile: path.join(sandbox.home, 'hosts', 'tiny', 'production', 'shared', '.env') };
}

const readEnv = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');

test('set KEY with the value piped in: it lands in shared/.env (0600) and in no output; KEY=- too, the value kept exactly', async (t) => {
  const { sandbox, dir, envFile } = await project(t);
  const set = await sandbox.run(['config', 'production', 'set', 'API_TOKEN'], { cwd: dir, input: `${SECRET}\n` });
  assert.equal(set.code, 0, describeRun(set));
  assert.match(set.stdout, /set API_TOKEN in .*shared\/\.env/);
  assert.ok(!(set.stdout + set.stderr).includes(SECRET), 'the value is in no output');
  assert.equal(readEnv(envFile), `API_TOKEN=${SECRET}\n`, 'the final line break is not part of the value');
  assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);

  // KEY=- reads stdin as well; spaces, = and quotes are kept (no line break at the end this time).
  const tricky = `  a=b "c" ${SECRET}  `;
  const dash = await sandbox.run(['config', 'production', 'set', 'OTHER=-', '--json'], { cwd: dir, input: tricky });
  assert.equal(dash.code, 0, describeRun(dash));
  assert.deepEqual(JSON.parse(dash.stdout).key, 'OTHER');
  assert.ok(!(dash.stdout + dash.stderr).includes(SECRET), 'nor in --json');
  const show = await sandbox.run(['config', 'production', 'show', '--json'], { cwd: dir });
  assert.equal(show.code, 0, describeRun(show));
  assert.deepEqual(JSON.parse(show.stdout).undeclared, ['API_TOKEN', 'OTHER']);
  // Read back as the agent reads it.
  assert.deepEqual(await readEnvFile(envFile), { API_TOKEN: SECRET, OTHER: tricky });
});

test('piped values that cannot be one line, or nothing at all, are refused (exit 2), the env file unchanged and the value unprinted', async (t) => {
  const { sandbox, dir, envFile } = await project(t);
  assert.equal((await sandbox.run(['config', 'production', 'set', 'KEEP=1'], { cwd: dir })).code, 0);
  const before = readEnv(envFile);

  const twoLines = await sandbox.run(['config', 'production', 'set', 'API_TOKEN'], { cwd: dir, input: `${SECRET}\nPATH=/tmp/evil\n` });
  assert.equal(twoLines.code, 2, describeRun(twoLines));
  assert.match(twoLines.stderr, /the value of API_TOKEN contains a line break or a NUL byte/);
  assert.ok(!(twoLines.stdout + twoLines.stderr).includes(SECRET));

  const empty = await sandbox.run(['config', 'production', 'set', 'API_TOKEN'], { cwd: dir });
  assert.equal(empty.code, 2, describeRun(empty));
  assert.match(empty.stderr, /no value for API_TOKEN on stdin/);
  assert.match(empty.stderr, /API_TOKEN=/, 'the hint says how to set an empty value');

  const huge = await sandbox.run(['config', 'production', 'set', 'API_TOKEN'], { cwd: dir, input: Buffer.alloc(65 * 1024, 'x') });
  assert.equal(huge.code, 2, describeRun(huge));
  assert.match(huge.stderr, /longer than 64 KiB/);

  const badKey = await sandbox.run(['config', 'production', 'set', 'not.a.key'], { cwd: dir, input: SECRET });
  assert.equal(badKey.code, 2, describeRun(badKey));
  assert.match(badKey.stderr, /is not a config key name/);

  assert.equal(readEnv(envFile), before, 'nothing changed');
});

/** Runs the CLI on a pseudo-terminal (python3's pty), typing `keys` once `waitFor` shows; returns all it showed. */
function onTerminal(o: { args: string[]; cwd: string; env: NodeJS.ProcessEnv; waitFor: string; keys: string }): Promise<{ code: number | null; screen: string }> {
  const script = `
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, sent, deadline = b'', False, time.time() + 30
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if fd in ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not sent and os.environ['WAIT_FOR'].encode() in out:
            os.write(fd, os.environ['KEYS'].encode())
            sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
`;
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, process.execPath, CLI_PATH, ...o.args], {
      cwd: o.cwd,
      env: { ...o.env, WAIT_FOR: o.waitFor, KEYS: o.keys },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('set KEY on a terminal: asks on stderr, the typing is not echoed, Enter sets it; Ctrl-C cancels and changes nothing', async (t) => {
  if (!hasPython()) {
    t.diagnostic('SKIPPED LOUDLY: python3 with its pty module is needed to give the CLI a terminal');
    return t.skip('needs python3 (pty) for a pseudo-terminal');
  }
  const { sandbox, dir, envFile } = await project(t);
  const env = { ...testRunnerEnv(), SLIPWAY_HOME: sandbox.home, TMPDIR: sandbox.tmp, NO_COLOR: '1' };
  const typed = await onTerminal({ args: ['config', 'production', 'set', 'API_TOKEN'], cwd: dir, env, waitFor: '(not shown): ', keys: `${SECRET}x\u007f\r` });
  assert.equal(typed.code, 0, typed.screen);
  assert.match(typed.screen, /value of API_TOKEN \(not shown\): /);
  assert.match(typed.screen, /set API_TOKEN in /);
  assert.ok(!typed.screen.includes(SECRET), `the typing is not echoed:\n${typed.screen}`);
  assert.equal(readEnv(envFile), `API_TOKEN=${SECRET}\n`, 'backspace took the x away');

  const cancelled = await onTerminal({ args: ['config', 'production', 'set', 'API_TOKEN'], cwd: dir, env, waitFor: '(not shown): ', keys: 'zq-typed-then-cancelled\u0003' });
  assert.equal(cancelled.code, 2, cancelled.screen);
  assert.match(cancelled.screen, /cancelled: nothing was changed/);
  assert.ok(!cancelled.screen.includes('zq-typed'), cancelled.screen);
  assert.equal(readEnv(envFile), `API_TOKEN=${SECRET}\n`);
});
