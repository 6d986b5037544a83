// The notes example app and its fixture repo, run for real: git, node processes
// on 127.0.0.1, SQLite in a shared data folder, and PostgreSQL when available.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  appEnv,
  exportRelease,
  findPgNodeModules,
  killRunningApps,
  loadBetterSqlite3,
  loadFixtureScript,
  newTempRoot,
  repoNodeModules,
  repoRoot,
  runNode,
  startApp,
  waitForBetterSqlite3,
  waitForHealthy,
  waitForListening,
  type FixtureRepo,
} from './notes-app-process.js';
import { PostgresUnavailableError, startPostgres, type RunningPostgres } from '../helpers/postgres.js';

const run = promisify(execFile);
const FIXTURE_PORT = 9321;

async function git(repo: string, args: string[]): Promise<string> {
  return (await run('git', args, { cwd: repo })).stdout;
}

async function postNote(url: string, text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/notes`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** PUT with the path sent exactly as given; resolves with the status code. */
function rawPut(port: number, rawPath: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: rawPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function getNotes(url: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${url}/api/notes`);
  assert.equal(res.status, 200);
  return (await res.json()) as Array<Record<string, unknown>>;
}

describe('notes example app on SQLite, v1 → v2 → v3 over one shared data folder', { timeout: 15 * 60_000 }, () => {
  let root: string;
  let fixture: FixtureRepo;
  const release: Record<string, string> = {};
  const env = () => appEnv({});

  before(async () => {
    await waitForBetterSqlite3();
    root = newTempRoot('slipway-notes-');
    const { createNotesFixtureRepo } = await loadFixtureScript();
    fixture = await createNotesFixtureRepo(path.join(root, 'repo'), { port: FIXTURE_PORT, nodePath: repoNodeModules });
    for (const tag of fixture.tags) release[tag] = await exportRelease({ repo: fixture.dir, tag, root });
  });

  after(async () => {
    await killRunningApps();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function notesDb() {
    const Database = loadBetterSqlite3();
    return new Database(path.join(root, 'shared', 'data', 'notes.db'), { readonly: true });
  }

  it('makes a repo with tags v1, v2, v3, each commit carrying its slipway.yml and its own version', async () => {
    assert.deepEqual(fixture.tags, ['v1', 'v2', 'v3']);
    assert.deepEqual((await git(fixture.dir, ['tag', '--list'])).split('\n').filter(Boolean), ['v1', 'v2', 'v3']);
    assert.equal((await git(fixture.dir, ['rev-list', '--count', 'v3'])).trim(), '3');
    await git(fixture.dir, ['merge-base', '--is-ancestor', 'v1', 'v2']);
    await git(fixture.dir, ['merge-base', '--is-ancestor', 'v2', 'v3']);
    assert.equal(await git(fixture.dir, ['status', '--porcelain']), '');

    for (const tag of fixture.tags) {
      const yml = await git(fixture.dir, ['show', `${tag}:slipway.yml`]);
      assert.match(yml, /^app: notes$/m);
      assert.match(yml, new RegExp(`^      NODE_PATH: ${repoNodeModules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      assert.match(yml, new RegExp(`^    port: ${FIXTURE_PORT}$`, 'm'));
      assert.match(yml, /main: \{ engine: sqlite, path: data\/notes\.db \}/);
      const server = await git(fixture.dir, ['show', `${tag}:server.js`]);
      assert.match(server, new RegExp(`const APP_VERSION = '${tag}'`));
      const changelog = await git(fixture.dir, ['show', `${tag}:CHANGELOG.md`]);
      assert.match(changelog, new RegExp(`^## ${tag}$`, 'm'));
    }
    assert.match(await git(fixture.dir, ['show', 'v2:CHANGELOG.md']), /migration/i);
    assert.doesNotMatch(await git(fixture.dir, ['show', 'v1:migrations.js']), /words/);
    assert.match(await git(fixture.dir, ['show', 'v2:migrations.js']), /ADD COLUMN words/);
  });

  it('the fixture CLI refuses a folder that is not empty', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(repoRoot, 'examples', 'make-fixture-repo.js'), fixture.dir], (err, _stdout, stderr) =>
        resolve({ code: err ? (err.code as number) : 0, stderr }),
      );
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not empty/);
  });

  it('server.js without PORT exits non-zero and says why', async () => {
    const result = await runNode(release.v1, 'server.js', env());
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /PORT must be set/);
  });

  it('v1 migrates (idempotently), serves notes and uploads, and exits 0 on SIGTERM', async () => {
    const first = await runNode(release.v1, 'migrate.js', env());
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied 1/);
    const again = await runNode(release.v1, 'migrate.js', env());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /up to date/);

    const app = await startApp(release.v1, env());
    assert.deepEqual(await waitForHealthy(app), { ok: true, version: 'v1' });
    assert.equal(await (await fetch(`${app.url}/version`)).text(), 'v1');

    const created = await postNote(app.url, 'buy milk and eggs');
    assert.equal(created.status, 201);
    assert.equal(created.body.text, 'buy milk and eggs');
    assert.equal(typeof created.body.id, 'number');
    assert.equal('words' in created.body, false, 'v1 knows nothing of word counts');
    assert.equal((await postNote(app.url, '  hello   world ')).status, 201);
    assert.equal((await postNote(app.url, '   ')).status, 400);
    assert.deepEqual(
      (await getNotes(app.url)).map((note) => note.text),
      ['buy milk and eggs', '  hello   world '],
    );

    const put = await fetch(`${app.url}/uploads/hello.txt`, { method: 'PUT', body: 'hello upload\n' });
    assert.equal(put.status, 201);
    const got = await fetch(`${app.url}/uploads/hello.txt`);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'hello upload\n');
    assert.equal((await fetch(`${app.url}/uploads/missing.txt`)).status, 404);
    // Raw paths: fetch would normalize the dot segments away before sending.
    for (const bad of ['..%2Fescape.txt', '%2E%2E%2Fescape.txt', '..%5Cescape.txt', 'a%2Fb', '.hidden']) {
      assert.equal(await rawPut(app.port, `/uploads/${bad}`, 'x'), 400, `PUT /uploads/${bad}`);
    }
    // The server's URL parser resolves dot segments, so this never reaches the uploads route.
    assert.equal(await rawPut(app.port, '/uploads/../escape.txt', 'x'), 404);
    assert.equal(existsSync(path.join(root, 'shared', 'escape.txt')), false);
    assert.equal(existsSync(path.join(release.v1, 'escape.txt')), false);
    // The upload went through the release's link into the shared folder.
    assert.equal(readFileSync(path.join(root, 'shared', 'uploads', 'hello.txt'), 'utf8'), 'hello upload\n');

    const home = await (await fetch(`${app.url}/`)).text();
    assert.match(home, /buy milk and eggs/);
    assert.match(home, /v1/);

    assert.deepEqual(await app.stop('SIGTERM'), { code: 0, signal: null });
  });

  it('on SIGTERM an in-flight request still gets its answer, then the app exits 0', async () => {
    const app = await startApp(release.v1, env());
    await waitForHealthy(app);
    const slow = fetch(`${app.url}/slow?ms=1500`).then(async (res) => ({ status: res.status, text: await res.text() }));
    await app.waitForOutput(/slow request: answering in 1500 ms/);
    app.child.kill('SIGTERM');
    assert.deepEqual(await slow, { status: 200, text: 'slept 1500 ms\n' });
    assert.deepEqual(await app.exited, { code: 0, signal: null });
    assert.match(app.output(), /SIGTERM: no longer accepting connections/);
  });

  it('v2 is not healthy before its migration has run', async () => {
    const app = await startApp(release.v2, env());
    await waitForListening(app);
    const res = await fetch(`${app.url}/healthz`);
    const body = (await res.json()) as Record<string, unknown>;
    assert.notEqual(res.status, 200);
    assert.equal(body.ok, false);
    assert.match(String(body.error), /words/);
    assert.deepEqual(await app.stop('SIGTERM'), { code: 0, signal: null });
  });

  it('a migration made to fail (NOTES_FAIL_MIGRATION=1) leaves the schema and data as they were', async () => {
    const failed = await runNode(release.v2, 'migrate.js', appEnv({ NOTES_FAIL_MIGRATION: '1' }));
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /NOTES_FAIL_MIGRATION/);

    const db = notesDb();
    try {
      const columns = (db.prepare("SELECT name FROM pragma_table_info('notes')").all() as Array<{ name: string }>).map((c) => c.name);
      assert.deepEqual(columns, ['id', 'text', 'created_at']);
      const versions = (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
      assert.deepEqual(versions, [1]);
      assert.equal((db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 2);
    } finally {
      db.close();
    }
  });

  it("v2's migration backfills word counts for the notes v1 wrote, and v2 serves v1's uploads", async () => {
    const migrated = await runNode(release.v2, 'migrate.js', env());
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /applied 2/);

    const app = await startApp(release.v2, env());
    assert.deepEqual(await waitForHealthy(app), { ok: true, version: 'v2' });
    assert.deepEqual(
      (await getNotes(app.url)).map((note) => [note.text, note.words]),
      [
        ['buy milk and eggs', 4],
        ['  hello   world ', 2],
      ],
    );
    const created = await postNote(app.url, 'one two three');
    assert.equal(created.status, 201);
    assert.equal(created.body.words, 3);
    assert.equal(await (await fetch(`${app.url}/uploads/hello.txt`)).text(), 'hello upload\n');
    assert.deepEqual(await app.stop('SIGTERM'), { code: 0, signal: null });
  });

  it('v3 has nothing to migrate, starts and listens, but its /healthz answers 500', async () => {
    const migrated = await runNode(release.v3, 'migrate.js', env());
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /up to date/);

    const app = await startApp(release.v3, env());
    await waitForListening(app);
    assert.equal(await (await fetch(`${app.url}/version`)).text(), 'v3');
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${app.url}/healthz`);
      assert.equal(res.status, 500);
      assert.equal(((await res.json()) as { ok: boolean }).ok, false);
    }
    assert.equal((await getNotes(app.url)).length, 3);
    assert.deepEqual(await app.stop('SIGTERM'), { code: 0, signal: null });
  });
});

describe('notes example app on PostgreSQL (DATABASE_URL)', { timeout: 5 * 60_000 }, () => {
  let root: string | undefined;

  after(async () => {
    await killRunningApps();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('v1 migrates and round-trips notes, then v2 backfills word counts', async (t) => {
    const pg = findPgNodeModules();
    if ('missing' in pg) {
      t.diagnostic(`SKIPPED: the pg package is not installed (${pg.missing})`);
      t.skip(`pg not installed: ${pg.missing}`);
      return;
    }
    let server: RunningPostgres;
    try {
      server = await startPostgres();
    } catch (err) {
      if (!(err instanceof PostgresUnavailableError)) throw err;
      t.diagnostic(`SKIPPED: PostgreSQL cannot run here: ${err.message}`);
      t.skip(`PostgreSQL unavailable: ${err.message}`);
      return;
    }
    t.after(() => server.stop());

    root = newTempRoot('slipway-notes-pg-');
    const { createNotesFixtureRepo } = await loadFixtureScript();
    const fixture = await createNotesFixtureRepo(path.join(root, 'repo'), { nodePath: repoNodeModules });
    const v1 = await exportRelease({ repo: fixture.dir, tag: 'v1', root });
    const v2 = await exportRelease({ repo: fixture.dir, tag: 'v2', root });
    const nodePath = [...new Set([repoNodeModules, pg.dir])].join(path.delimiter);
    const env = appEnv({ DATABASE_URL: server.url, NODE_PATH: nodePath });

    const migratedV1 = await runNode(v1, 'migrate.js', env);
    assert.equal(migratedV1.code, 0, migratedV1.stderr);
    assert.match(migratedV1.stdout, /applied 1 .*\n.*postgres 127\.0\.0\.1/);

    const appV1 = await startApp(v1, env);
    assert.deepEqual(await waitForHealthy(appV1), { ok: true, version: 'v1' });
    const created = await postNote(appV1.url, 'stored in postgres');
    assert.equal(created.status, 201);
    assert.equal(created.body.id, 1);
    assert.deepEqual((await getNotes(appV1.url)).map((note) => note.text), ['stored in postgres']);
    assert.deepEqual(await appV1.stop('SIGTERM'), { code: 0, signal: null });
    // The notes went to PostgreSQL, not to a SQLite file.
    assert.equal(existsSync(path.join(root, 'shared', 'data', 'notes.db')), false);

    const failed = await runNode(v2, 'migrate.js', { ...env, NOTES_FAIL_MIGRATION: '1' });
    assert.notEqual(failed.code, 0);
    const columns = await server.runTool('psql', ['-h', server.socketDir, '-p', String(server.port), '-U', 'postgres', '-At', '-c',
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes' ORDER BY ordinal_position"]);
    assert.deepEqual(columns.trim().split('\n'), ['id', 'text', 'created_at']);

    const migratedV2 = await runNode(v2, 'migrate.js', env);
    assert.equal(migratedV2.code, 0, migratedV2.stderr);
    const appV2 = await startApp(v2, env);
    assert.deepEqual(await waitForHealthy(appV2), { ok: true, version: 'v2' });
    assert.deepEqual((await getNotes(appV2.url)).map((note) => [note.text, note.words]), [['stored in postgres', 3]]);
    assert.equal((await postNote(appV2.url, 'a b')).body.words, 2);
    assert.deepEqual(await appV2.stop('SIGTERM'), { code: 0, signal: null });
  });
});
