import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { registerSecret } from '../../src/errors.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { SshConnection, classifySshFailure, describeTarget, parseSshUrl, sshSettingsFromEnv, type SshSettings } from '../../src/remote/ssh.js';
import { createNetnsHost, netnsUnavailableReason } from '../helpers/netns.js';
import { createClientKeys, sshdUnavailableReason, startSshd, writeSshClientConfig, type RunningSshd } from '../helpers/sshd.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

const sshdUnavailable = sshdUnavailableReason();
const netnsUnavailable = sshdUnavailable ?? netnsUnavailableReason();

/** Every expected failure says what to do next. */
const WITH_HINT = { hint: /./ };

interface Cleanup {
  /** runs `fn` at the end of the test, after everything registered later (t.after runs first-in first-out) */
  defer(fn: () => unknown): void;
}

/** Cleanup in reverse order: connections close before their sshd stops, and sshd stops before its namespace goes. */
function cleanupFor(t: { after(fn: () => unknown): void }): Cleanup {
  const steps: (() => unknown)[] = [];
  t.after(async () => {
    const failures: unknown[] = [];
    for (const step of steps.reverse()) await Promise.resolve().then(step).catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  });
  return { defer: (fn) => steps.push(fn) };
}

/** Running `ssh -M` master processes for this port (to prove none is left behind). */
function mastersFor(port: number): string[] {
  const found: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0]) === 'ssh' && argv.includes('-M') && argv.includes(String(port))) found.push(argv.join(' '));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const acceptedCount = (sshd: RunningSshd) => sshd.log().split('\n').filter((line) => line.includes('Accepted publickey')).length;

test('parseSshUrl reads ssh://[user@]host[:port]', () => {
  assert.deepEqual(parseSshUrl('ssh://deploy@app1.example.com:2222'), { user: 'deploy', host: 'app1.example.com', port: 2222 });
  assert.deepEqual(parseSshUrl('ssh://app1'), { host: 'app1' });
  assert.deepEqual(parseSshUrl('ssh://root@10.0.0.5/'), { user: 'root', host: '10.0.0.5' });
  assert.deepEqual(parseSshUrl('ssh://root@[2001:db8::1]:22'), { user: 'root', host: '2001:db8::1', port: 22 });
});

test('parseSshUrl refuses anything else, including hosts that would pass as ssh options', () => {
  for (const url of [
    'app1',
    'http://app1',
    'ssh://',
    'ssh://-oProxyCommand=touch${IFS}x',
    'ssh://-lroot@app1',
    'ssh://user@-p1',
    'ssh://user:password@app1',
    'ssh://app1:0',
    'ssh://app1:65536',
    'ssh://app1:22/path',
    'ssh://app 1',
    'ssh://[notipv6]',
    'ssh://app1?x=1',
  ]) {
    const error = expectThrows(() => parseSshUrl(url), 'INVALID_SSH_URL', { exitCode: 2, context: url });
    assert.ok(!error.message.includes('password'), url);
  }
});

test('describeTarget names user@host:port for messages', () => {
  assert.equal(describeTarget({ user: 'root', host: 'app1', port: 2222 }), 'root@app1:2222');
  assert.equal(describeTarget({ host: 'app1' }), 'app1');
  assert.equal(describeTarget({ user: 'root', host: '::1', port: 22 }), 'root@[::1]:22');
});

test('sshSettingsFromEnv takes the ssh_config file from SLIPWAY_SSH_CONFIG', () => {
  assert.deepEqual(sshSettingsFromEnv({ SLIPWAY_SSH_CONFIG: '/etc/slipway/ssh_config' }), { configFile: '/etc/slipway/ssh_config' });
  assert.deepEqual(sshSettingsFromEnv({}), {});
  assert.deepEqual(sshSettingsFromEnv({ SLIPWAY_SSH_CONFIG: '' }), {});
});

test('sshSettingsFromEnv takes the keepalive interval from SLIPWAY_SSH_ALIVE_INTERVAL, and refuses nonsense', () => {
  assert.deepEqual(sshSettingsFromEnv({ SLIPWAY_SSH_ALIVE_INTERVAL: '1' }), { aliveIntervalSeconds: 1 });
  for (const bad of ['0', '-1', '1.5', 'soon', '99999']) {
    expectThrows(() => sshSettingsFromEnv({ SLIPWAY_SSH_ALIVE_INTERVAL: bad }), 'SSH_SETTING_INVALID', { context: bad });
  }
});

test('classifySshFailure maps what ssh prints to codes with the target and ssh\'s last line', () => {
  const target = { user: 'root', host: 'app1.example.com', port: 2222 };
  const cases: [string, string][] = [
    ['ssh: Could not resolve hostname app1.example.com: Name or service not known', 'HOST_UNREACHABLE'],
    ['ssh: connect to host app1.example.com port 2222: No route to host', 'HOST_UNREACHABLE'],
    ['ssh: connect to host app1.example.com port 2222: Connection timed out', 'HOST_UNREACHABLE'],
    ['Connection timed out during banner exchange', 'HOST_UNREACHABLE'],
    ['root@app1.example.com: Permission denied (publickey).', 'SSH_AUTH_FAILED'],
    ['No ED25519 host key is known for [app1.example.com]:2222 and you have requested strict checking.\nHost key verification failed.', 'HOST_KEY_UNKNOWN'],
    ['@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.', 'HOST_KEY_MISMATCH'],
    ['/tmp/x: line 3: Bad configuration option: frobnicate\n/tmp/x: terminating, 1 bad configuration options', 'SSH_CONFIG_INVALID'],
    ['something nobody expected', 'SSH_CONNECT_FAILED'],
  ];
  for (const [stderr, code] of cases) {
    const error = classifySshFailure({ target, stderr });
    assert.equal(error.code, code, stderr);
    assert.ok(error.hint);
    assert.ok(error.details.includes('host: root@app1.example.com:2222'), error.details.join('\n'));
    assert.ok(error.details.includes(`ssh said: ${stderr.split('\n').at(-1)!.trim()}`), error.details.join('\n'));
  }
  registerSecret('hunter2-secret');
  const redacted = classifySshFailure({ target, stderr: 'ssh: Could not resolve hostname hunter2-secret: Name or service not known' });
  assert.ok(!redacted.details.join('\n').includes('hunter2-secret'));
});

test('over a real sshd', { skip: sshdUnavailable ?? false }, async (t) => {
  const cleanup = cleanupFor(t);
  const work = tempDir({ after: cleanup.defer });
  const keys = await createClientKeys();
  cleanup.defer(() => fs.rmSync(keys.dir, { recursive: true, force: true }));
  const sshd = await startSshd({ name: 'main', keys, logLevel: 'INFO' });
  cleanup.defer(() => sshd.stop());
  const { configFile, knownHostsFile } = await writeSshClientConfig({ file: path.join(work, 'ssh_config'), keys, hosts: [sshd] });
  const settings: SshSettings = { configFile };
  const target = parseSshUrl(sshd.url);
  const connection = await SshConnection.open(target, settings);
  cleanup.defer(() => connection.close());

  await t.test('arguments arrive exactly as given and exit codes pass through', async () => {
    const nasty = ['', 'two words', "it's", '"q"', '$(touch /tmp/slipway-pwned)', '`id`', 'a\nb', '*', '~', '-n', '--', '; rm -rf /', 'ünï ✓ 🚀', 'back\\slash', '%s'];
    // printf '%s\0' prints each word it received verbatim (echo would interpret -n and backslashes)
    const printed = await connection.run(['printf', '%s\\0', 'first', ...nasty]);
    assert.equal(printed.exitCode, 0, printed.stderr);
    assert.deepEqual(printed.stdout.toString('utf8').split('\0').slice(0, -1), ['first', ...nasty]);
    assert.equal(fs.existsSync('/tmp/slipway-pwned'), false);

    assert.equal((await connection.run(['echo', 'hello world'])).stdout.toString(), 'hello world\n');
    assert.equal((await connection.run(['sh', '-c', 'exit 7'])).exitCode, 7);
    // 255 from the command itself, with the connection alive, is an exit code like any other
    const own255 = await connection.run(['sh', '-c', 'echo oops >&2; exit 255']);
    assert.equal(own255.exitCode, 255);
    assert.equal(own255.stderr, 'oops\n');
    assert.equal((await connection.run(['true'])).exitCode, 0);
  });

  await t.test('stdin input reaches the remote command (string, Buffer, stream)', async () => {
    assert.equal((await connection.run(['cat'], { input: 'from stdin\n' })).stdout.toString(), 'from stdin\n');
    const payload = randomBytes(3 * 1024 * 1024);
    const hashed = await connection.run(['sha256sum'], { input: payload });
    assert.equal(hashed.stdout.toString().split(' ')[0], createHash('sha256').update(payload).digest('hex'));
    const streamed = await connection.run(['cat'], { input: Readable.from([Buffer.from('one '), Buffer.from('two')]) });
    assert.equal(streamed.stdout.toString(), 'one two');
    // without input, stdin is empty rather than inherited
    assert.equal((await connection.run(['cat'])).stdout.length, 0);
  });

  await t.test('env is set for the command', async () => {
    const value = "it's $(x) \n * done";
    const result = await connection.run(['sh', '-c', 'printf %s "$GREETING"'], { env: { GREETING: value } });
    assert.equal(result.stdout.toString(), value);
  });

  await t.test('output streams to the callbacks as it comes', async () => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const result = await connection.run(['sh', '-c', 'echo to-out; echo to-err >&2'], { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) });
    assert.equal(Buffer.concat(out).toString(), 'to-out\n');
    assert.equal(Buffer.concat(err).toString(), 'to-err\n');
    assert.equal(result.stderr, 'to-err\n');
  });

  await t.test('spawn streams stdin and stdout', async () => {
    const child = connection.spawn(['sh', '-c', 'tr a-z A-Z; echo "$X"'], { env: { X: 'done' } });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin!.write('streamed ');
    child.stdin!.end('release\n');
    assert.equal(await closed, 0);
    assert.equal(out, 'STREAMED RELEASE\ndone\n');
  });

  await t.test('a command past its timeout is stopped with REMOTE_COMMAND_TIMEOUT', async () => {
    await expectRejects(connection.run(['sleep', '30'], { timeoutMs: 300 }), 'REMOTE_COMMAND_TIMEOUT', WITH_HINT);
    assert.equal((await connection.run(['true'])).exitCode, 0, 'the connection still works');
  });

  await t.test('20 commands over one connection make ONE ssh connection', async (t) => {
    const before = acceptedCount(sshd);
    const multiplexed = await SshConnection.open(target, settings);
    t.after(() => multiplexed.close());
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => multiplexed.run(['echo', `run ${i}`])));
    assert.deepEqual(
      results.map((r) => r.stdout.toString()),
      Array.from({ length: 20 }, (_, i) => `run ${i}\n`),
    );
    await waitUntil('sshd logged the connection', () => acceptedCount(sshd) >= before + 1, 5_000);
    assert.equal(acceptedCount(sshd), before + 1, sshd.log());
    // the count does see separate connections: a second one is a second login
    const second = await SshConnection.open(target, settings);
    t.after(() => second.close());
    await second.run(['true']);
    await waitUntil('sshd logged the second connection', () => acceptedCount(sshd) >= before + 2, 5_000);
    assert.equal(acceptedCount(sshd), before + 2);
  });

  await t.test('close stops the master and is idempotent', async () => {
    const temporary = await SshConnection.open(target, settings);
    // the shared connection of this test and this one
    assert.equal(mastersFor(sshd.port).length, 2);
    await Promise.all([temporary.close(), temporary.close()]);
    await temporary.close();
    await assert.rejects(temporary.run(['true']));
    assert.equal(mastersFor(sshd.port).length, 1);
    assert.equal((await connection.run(['true'])).exitCode, 0, 'other connections are untouched');
  });

  await t.test('a closed port is HOST_UNREACHABLE, and nothing is left running', async () => {
    const closedPort = await findFreePort();
    const error = await expectRejects(SshConnection.open({ user: 'root', host: '127.0.0.1', port: closedPort }, settings), 'HOST_UNREACHABLE', WITH_HINT);
    assert.ok(error.details.includes(`host: root@127.0.0.1:${closedPort}`), error.details.join('\n'));
    assert.ok(error.details.some((line) => line.startsWith('ssh said:') && line.includes('Connection refused')), error.details.join('\n'));
    assert.deepEqual(mastersFor(closedPort), []);
  });

  await t.test('a different host key in known_hosts is HOST_KEY_MISMATCH and known_hosts stays as it was', async () => {
    const impostor = { ...sshd, hostPublicKey: fs.readFileSync(keys.publicKey, 'utf8').trim().split(' ').slice(0, 2).join(' ') };
    const mismatch = await writeSshClientConfig({ file: path.join(work, 'ssh_config_mismatch'), keys, hosts: [impostor] });
    const before = fs.readFileSync(mismatch.knownHostsFile, 'utf8');
    const error = await expectRejects(SshConnection.open(target, { configFile: mismatch.configFile }), 'HOST_KEY_MISMATCH', WITH_HINT);
    assert.match(error.hint!, /ssh-keygen -R/);
    assert.ok(error.details.some((line) => line.startsWith('Offending')), error.details.join('\n'));
    assert.equal(fs.readFileSync(mismatch.knownHostsFile, 'utf8'), before);
  });

  await t.test('no known_hosts entry is HOST_KEY_UNKNOWN and nothing is added', async () => {
    const unknown = await writeSshClientConfig({ file: path.join(work, 'ssh_config_unknown'), keys, hosts: [sshd], knownHosts: 'none' });
    const error = await expectRejects(SshConnection.open(target, { configFile: unknown.configFile }), 'HOST_KEY_UNKNOWN', WITH_HINT);
    assert.match(error.hint!, /ssh-keyscan/);
    assert.equal(fs.readFileSync(unknown.knownHostsFile, 'utf8'), '');
  });

  await t.test('without a host key checking setting, slipway still refuses unknown hosts', async () => {
    const plain = path.join(work, 'ssh_config_plain');
    fs.writeFileSync(path.join(work, 'known_hosts_plain'), '');
    fs.writeFileSync(plain, `Host *\n  IdentityFile ${keys.privateKey}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${path.join(work, 'known_hosts_plain')}\n  GlobalKnownHostsFile /dev/null\n`);
    await expectRejects(SshConnection.open(target, { configFile: plain }), 'HOST_KEY_UNKNOWN', WITH_HINT);
    assert.equal(fs.readFileSync(path.join(work, 'known_hosts_plain'), 'utf8'), '');
  });

  await t.test("a user's ssh_config may relax host key checking for their hosts, and slipway does not override it", async () => {
    const relaxed = await writeSshClientConfig({ file: path.join(work, 'ssh_config_relaxed'), keys, hosts: [sshd], knownHosts: 'none', extraOptions: ['StrictHostKeyChecking accept-new'] });
    const accepted = await SshConnection.open(target, { configFile: relaxed.configFile });
    await accepted.close();
    assert.match(fs.readFileSync(relaxed.knownHostsFile, 'utf8'), new RegExp(sshd.hostPublicKey.split(' ')[1].replace(/[+/]/g, '\\$&')));
  });

  await t.test('a key the host does not know is SSH_AUTH_FAILED', async () => {
    const strangerKeys = await createClientKeys();
    try {
      const stranger = await writeSshClientConfig({ file: path.join(work, 'ssh_config_stranger'), keys: strangerKeys, hosts: [sshd] });
      await expectRejects(SshConnection.open(target, { configFile: stranger.configFile }), 'SSH_AUTH_FAILED', WITH_HINT);
    } finally {
      fs.rmSync(strangerKeys.dir, { recursive: true, force: true });
    }
  });

  await t.test('a broken ssh_config is SSH_CONFIG_INVALID', async () => {
    const broken = path.join(work, 'ssh_config_broken');
    fs.writeFileSync(broken, 'Host *\n  Frobnicate yes\n');
    await expectRejects(SshConnection.open(target, { configFile: broken }), 'SSH_CONFIG_INVALID', WITH_HINT);
    assert.equal(fs.readFileSync(knownHostsFile, 'utf8').includes(sshd.hostPublicKey), true);
  });
});

test('an sshd killed during a command is CONNECTION_LOST', { skip: sshdUnavailable ?? false }, async (t) => {
  const cleanup = cleanupFor(t);
  const work = tempDir({ after: cleanup.defer });
  const keys = await createClientKeys();
  cleanup.defer(() => fs.rmSync(keys.dir, { recursive: true, force: true }));
  const sshd = await startSshd({ name: 'doomed', keys });
  cleanup.defer(() => sshd.stop());
  const { configFile } = await writeSshClientConfig({ file: path.join(work, 'ssh_config'), keys, hosts: [sshd] });
  const connection = await SshConnection.open(parseSshUrl(sshd.url), { configFile, aliveIntervalSeconds: 1 });
  cleanup.defer(() => connection.close());

  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const long = connection.run(['sh', '-c', 'echo started; exec sleep 30'], { onStdout: () => started() });
  await running;
  const failure = expectRejects(long, 'CONNECTION_LOST', WITH_HINT);
  await sshd.crash();
  const error = await failure;
  assert.ok(error.details.includes(`host: root@127.0.0.1:${sshd.port}`), error.details.join('\n'));
  // the connection stays lost: no silent reconnect
  await expectRejects(connection.run(['true']), 'CONNECTION_LOST', WITH_HINT);
  await expectRejects(connection.checkConnection(), 'CONNECTION_LOST', WITH_HINT);
  await connection.close();
  assert.deepEqual(mastersFor(sshd.port), []);
});

test('a host in a network namespace: reachable, then its link is cut', { skip: netnsUnavailable ?? false }, async (t) => {
  const cleanup = cleanupFor(t);
  const work = tempDir({ after: cleanup.defer });
  const keys = await createClientKeys();
  cleanup.defer(() => fs.rmSync(keys.dir, { recursive: true, force: true }));
  const host = await createNetnsHost('ssh');
  cleanup.defer(() => host.destroy());
  const sshd = await startSshd({ name: 'netns', keys, address: host.hostAddress, netns: host.netns });
  cleanup.defer(() => sshd.stop());
  const { configFile } = await writeSshClientConfig({ file: path.join(work, 'ssh_config'), keys, hosts: [sshd] });
  const target = parseSshUrl(sshd.url);
  const settings: SshSettings = { configFile, aliveIntervalSeconds: 1, connectTimeoutSeconds: 3 };

  const connection = await SshConnection.open(target, settings);
  cleanup.defer(() => connection.close());
  // the command runs inside the namespace: its only addresses are lo and the host's
  const addresses = await connection.run(['ip', '-4', '-o', 'addr']);
  assert.match(addresses.stdout.toString(), new RegExp(`inet ${host.hostAddress.replaceAll('.', '\\.')}/24`));

  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const long = connection.run(['sh', '-c', 'echo started; exec sleep 30'], { onStdout: () => started() });
  await running;
  const lost = expectRejects(long, 'CONNECTION_LOST', WITH_HINT);
  await host.cutLink();
  await lost;
  await connection.close();

  await expectRejects(SshConnection.open(target, settings), 'HOST_UNREACHABLE', WITH_HINT);

  await host.restoreLink();
  const again = await SshConnection.open(target, settings);
  cleanup.defer(() => again.close());
  assert.equal((await again.run(['echo', 'back'])).stdout.toString(), 'back\n');
});
