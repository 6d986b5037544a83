import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_CALLS } from '../../src/agent/api.js';
import { buildProgram } from '../../src/cli/main.js';
import { fastRollbackCacheFile, parseFastRollbackArgs, ROLLBACK_CALL } from '../../src/cli/rollback-fast.js';
import { createHostFixture, repoRoot, type HostFixture } from '../helpers/host-fixture.js';

// `slipway rollback <env> --yes` sends its request before the rest of the CLI loads when the
// cache the full path wrote is fresh (rollback-fast.ts). Which path ran is seen in the cache:
// the full path rewrites it, the early send only reads it, so a mark added to it survives
// only the early send. Behaviour is asserted, not timing: bench/rollback.ts measures that.

describe('which arguments go early', () => {
  it('takes only `<env>` with --yes, and --to/--reason once each', () => {
    assert.deepEqual(parseFastRollbackArgs(['production', '--yes']), { env: 'production' });
    assert.deepEqual(parseFastRollbackArgs(['-y', 'production']), { env: 'production' });
    assert.deepEqual(parseFastRollbackArgs(['production', '--to', 'v2', '-y', '--reason', 'bad notes']), { env: 'production', to: 'v2', reason: 'bad notes' });
    for (const args of [
      ['production'],
      ['--yes'],
      ['production', 'staging', '--yes'],
      ['production', '--yes', '--with-data'],
      ['production', '--yes', '--config', 'other.yml'],
      ['production', '--yes', '-c', 'other.yml'],
      ['production', '--yes', '--host', 'a'],
      ['production', '--yes', '--no-color'],
      ['production', '--yes', '--help'],
      ['production', '--yes', '--to=v2'],
      ['production', '--yes', '--to'],
      ['production', '--yes', '--to', ''],
      ['production', '--yes', '--to', '-y'],
      ['production', '--yes', '--to', 'v1', '--to', 'v2'],
      ['production', '--yes', '--', 'x'],
      ['production', '-yc', 'x'],
    ]) {
      assert.equal(parseFastRollbackArgs(args), null, args.join(' '));
    }
  });

  it('reads them as the command line does', async () => {
    for (const args of [['production', '--yes'], ['-y', 'production', '--to', 'v2'], ['production', '--reason', 'why not', '--yes', '--to', 'abc1234']]) {
      const fast = parseFastRollbackArgs(args);
      assert.ok(fast, args.join(' '));
      const program = buildProgram();
      let seen: Record<string, unknown> | undefined;
      program.commands.find((c) => c.name() === 'rollback')!.action((env: string, options: Record<string, unknown>) => {
        seen = { env, ...options };
      });
      await program.parseAsync(['node', 'slipway', 'rollback', ...args]);
      assert.deepEqual(
        { env: seen?.env, to: seen?.to, reason: seen?.reason, yes: seen?.yes, withData: seen?.withData, config: seen?.config, host: seen?.host },
        { env: fast.env, to: fast.to, reason: fast.reason, yes: true, withData: undefined, config: undefined, host: undefined },
      );
    }
  });

  it('calls the route the agent serves', () => {
    assert.deepEqual({ method: AGENT_CALLS.rollback.method, path: AGENT_CALLS.rollback.path }, ROLLBACK_CALL);
  });
});

function setStandby(host: HostFixture, value: string): void {
  const file = path.join(host.repo, 'slipway.yml');
  writeFileSync(file, `${readFileSync(file, 'utf8').replace(/^ {4}standby: .*\n/m, '')}    standby: ${value}\n`);
}

function cacheFile(host: HostFixture): string {
  return fastRollbackCacheFile({ cwd: host.repo, environment: 'production', env: host.env });
}

/** Adds a field the full path would not write back. */
function mark(host: HostFixture): void {
  const file = cacheFile(host);
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), testMark: true }));
}

function marked(host: HostFixture): boolean {
  return (JSON.parse(readFileSync(cacheFile(host), 'utf8')) as { testMark?: boolean }).testMark === true;
}

/** The step lines without their times, instants and free disk space, and the last line without its seconds. */
function shape(output: string): string {
  return output
    .replace(/ +\d+ ms/g, ' N ms')
    .replace(/\d+(\.\d+)? [KMGT]iB free/g, 'N free')
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T')
    .replace(/— \d+\.\d s/, '— N s');
}

async function rollback(host: HostFixture, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return host.cli(['rollback', 'production', ...args]);
}

/** The newest deployment as the host's ledger records it (who and why are not in `history --json`). */
function history(host: HostFixture): { kind: string; who: string; reason: string } {
  const Database = createRequire(path.join(repoRoot, 'package.json'))('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(path.join(host.hostRoot, 'ledger.db'), { readonly: true });
  try {
    return db.prepare('SELECT kind, who, reason FROM deployments ORDER BY id DESC LIMIT 1').get() as { kind: string; who: string; reason: string };
  } finally {
    db.close();
  }
}

it('goes early once the full path has run, says what the full path says, and falls back whenever the cache is not sure', { timeout: 300_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, '5m');
  await host.startAgent();
  for (const version of ['v1', 'v2']) assert.equal((await host.cli(['deploy', 'production', '--version', version, '--yes'])).code, 0);

  // Every command that reaches the agent remembers its socket: the deploys wrote the cache.
  assert.equal(existsSync(cacheFile(host)), true, 'deploy wrote the cache');
  // The full path: no cache; it writes one.
  rmSync(cacheFile(host));
  const full = await rollback(host, ['--yes']);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, /^production now serves v1 \([0-9a-f]{12}\) — \d+\.\d s\n$/);
  assert.match(full.stderr, /v1 warm in slot \w+/);
  assert.equal(existsSync(cacheFile(host)), true);
  const fullRecord = history(host);

  // Early: the cache is read, not written; the same lines, the same record, the agent switched.
  mark(host);
  const early = await rollback(host, ['--yes']);
  assert.equal(early.code, 0, early.stderr);
  assert.ok(marked(host), 'the early send ran (the full path would have rewritten the cache)');
  assert.match(early.stdout, /^production now serves v2 \([0-9a-f]{12}\) — \d+\.\d s\n$/);
  assert.match(early.stderr, /v2 warm in slot \w+/);
  assert.equal((await host.get('/version')).body, 'v2');
  const earlyRecord = history(host);
  // The same way back as the full path went: the same lines, but for their times.
  const again = await rollback(host, ['--yes']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(marked(host));
  assert.equal(shape(again.stdout), shape(full.stdout));
  assert.equal(shape(again.stderr), shape(full.stderr));
  assert.equal(again.stdout.replace(/— .*/, ''), full.stdout.replace(/— .*/, ''));
  assert.equal((await host.get('/version')).body, 'v1');
  assert.deepEqual(pick(earlyRecord, ['kind', 'who', 'reason']), pick(fullRecord, ['kind', 'who', 'reason']));
  assert.deepEqual(pick(earlyRecord, ['kind', 'who', 'reason']), { kind: 'rollback', who: 'e2e-test', reason: 'rollback' });

  // --to and --reason go early too, and reach the agent as given.
  const to = await rollback(host, ['--to', 'v2', '-y', '--reason', 'v1 mangles notes']);
  assert.equal(to.code, 0, to.stderr);
  assert.ok(marked(host));
  assert.equal((await host.get('/version')).body, 'v2');
  assert.deepEqual(pick(history(host), ['kind', 'reason', 'who']), { kind: 'rollback', reason: 'v1 mangles notes', who: 'e2e-test' });

  // A refusal by the agent: the same message and exit code as the full path's.
  const refusedEarly = await rollback(host, ['--to', 'v9', '--yes']);
  assert.ok(marked(host));
  rmSync(cacheFile(host));
  const refusedFull = await rollback(host, ['--to', 'v9', '--yes']);
  assert.equal(existsSync(cacheFile(host)), true, 'the full path ran and wrote the cache');
  assert.equal(refusedEarly.code, 2, refusedEarly.stderr);
  assert.deepEqual(refusedEarly, refusedFull);

  // Without --yes and no terminal: refused by the full path, before anything reaches the agent.
  mark(host);
  const unconfirmed = await rollback(host, []);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /rollback needs a confirmation/);
  assert.equal((await host.get('/version')).body, 'v2');

  // Each of these leaves the early send unsure: the full path runs (and writes the cache afresh).
  const unsure: Array<[string, () => void]> = [
    ['slipway.yml changed', () => writeFileSync(path.join(host.repo, 'slipway.yml'), `${readFileSync(path.join(host.repo, 'slipway.yml'), 'utf8')}# changed\n`)],
    ['the cache is missing', () => rmSync(cacheFile(host))],
    ['the cache is not JSON', () => writeFileSync(cacheFile(host), '{ not json')],
    ['others may write the cache', () => chmodSync(cacheFile(host), 0o666)],
    ['SLIPWAY_HOME is not the same', () => writeFileSync(cacheFile(host), JSON.stringify({ ...JSON.parse(readFileSync(cacheFile(host), 'utf8')), slipwayHomeVariable: '/elsewhere' }))],
    ['no agent listens at the cached socket', () => writeFileSync(cacheFile(host), JSON.stringify({ ...JSON.parse(readFileSync(cacheFile(host), 'utf8')), socketPath: path.join(path.dirname(cacheFile(host)), 'gone.sock') }))],
  ];
  let serving = 'v2';
  for (const [why, spoil] of unsure) {
    mark(host);
    spoil();
    const result = await rollback(host, ['--yes']);
    serving = serving === 'v1' ? 'v2' : 'v1';
    assert.equal(result.code, 0, `${why}: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^production now serves ${serving} `), why);
    assert.equal(marked(host), false, `${why}: the full path ran`);
    assert.equal((await host.get('/version')).body, serving, why);
    // And the cache it wrote is good for the next one.
    mark(host);
    const next = await rollback(host, ['--yes']);
    serving = serving === 'v1' ? 'v2' : 'v1';
    assert.equal(next.code, 0, `${why}, then: ${next.stderr}`);
    assert.ok(marked(host), `${why}, then: the early send ran`);
    assert.equal((await host.get('/version')).body, serving, why);
  }
});

it('with no release in standby the agent starts it cold, whichever path sent the rollback', { timeout: 300_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, 'off');
  await host.startAgent();
  for (const version of ['v1', 'v2']) assert.equal((await host.cli(['deploy', 'production', '--version', version, '--yes'])).code, 0);
  const full = await rollback(host, ['--yes']);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stderr, /cold start/);
  mark(host);
  const early = await rollback(host, ['--yes']);
  assert.equal(early.code, 0, early.stderr);
  assert.ok(marked(host), 'the early send ran');
  assert.match(early.stderr, /cold start/);
  assert.equal((await host.get('/version')).body, 'v2');
  const again = await rollback(host, ['--yes']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(marked(host), 'the early send ran');
  assert.equal((await host.get('/version')).body, 'v1');
  assert.equal(shape(again.stderr).replace(/slot \w+/g, 'slot S'), shape(full.stderr).replace(/slot \w+/g, 'slot S'));
  assert.equal(again.stdout.replace(/— .*/, ''), full.stdout.replace(/— .*/, ''));
});

function pick<T extends object, K extends keyof T>(value: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, value[k]])) as Pick<T, K>;
}
