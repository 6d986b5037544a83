// Issue 14, "Accessories", for MariaDB: an app whose database (engine mysql) runs in an
// accessory made from this machine's MariaDB server (test/helpers/docker-mariadb.ts) is
// deployed, backed up and verified, updated with a migration, rolled back with its data and
// restored, by the same engine as any MariaDB: mariadb-dump and mariadb of the host, through
// the accessory's loopback port. Every step's rows are read from the real database.
//
// The app is a few lines written here (the notes example speaks SQLite and PostgreSQL only):
// the notes fixture's HTTP API (/healthz, /version, /api/notes) over the host's `mariadb`
// client, so the fixture's helpers drive it; v2's migration adds notes.words.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createDataFixture, describe, json, type ProjectFile } from '../helpers/data-fixture.js';
import { ensureMariadbImage, installedMariadb, mariadbOnPort } from '../helpers/docker-mariadb.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { freePort } from '../helpers/free-port.js';
import { skipForMissingTool } from '../helpers/missing-tool.js';

const PASSWORD = 'acc-Maria-Pw-5e2f91';

/** The app's shared part: a query through the host's client, as the user of DATABASE_URL. */
function appPrelude(client: string): string {
  return `import { execFile } from 'node:child_process';
const CLIENT = ${JSON.stringify(client)};
const url = new URL(process.env.DATABASE_URL ?? '');
const ARGS = ['--no-defaults', '--protocol=TCP', '--host=' + url.hostname, '--port=' + url.port, '--user=' + decodeURIComponent(url.username),
  '--batch', '--raw', '--skip-column-names', '--default-character-set=utf8mb4'];
const ENV = { ...process.env, MYSQL_PWD: decodeURIComponent(url.password) };
export function sql(statement) {
  return new Promise((resolve, reject) =>
    execFile(CLIENT, [...ARGS, '-e', statement, decodeURIComponent(url.pathname.slice(1))], { env: ENV }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr.trim() || error.message)) : resolve(stdout.trim())));
}
export const literal = (text) => "CONVERT(X'" + Buffer.from(text, 'utf8').toString('hex') + "' USING utf8mb4)";
`;
}

/** server.js of one version: v2 reads and writes notes.words, and is healthy only once the column exists. */
function serverJs(version: 'v1' | 'v2'): string {
  const v2 = version === 'v2';
  return `import http from 'node:http';
import { sql, literal } from './mariadb-app.js';
const VERSION = ${JSON.stringify(version)};
const FIELDS = "'id', id, 'text', text, 'createdAt', created_at${v2 ? ", 'words', words" : ''}";
const NEEDS = ${JSON.stringify(v2 ? ['id', 'text', 'created_at', 'words'] : ['id', 'text', 'created_at'])};
async function route(req, res) {
  const send = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(typeof body === 'string' ? body : JSON.stringify(body)); };
  if (req.url === '/version') return res.end(VERSION);
  if (req.url === '/healthz') {
    const columns = (await sql("SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'notes'")).split('\\n');
    const missing = NEEDS.filter((c) => !columns.includes(c));
    return send(missing.length === 0 ? 200 : 503, { ok: missing.length === 0, version: VERSION, missing });
  }
  if (req.url === '/api/notes' && req.method === 'GET') return send(200, await sql('SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT(' + FIELDS + ') ORDER BY id), "[]") FROM notes'));
  if (req.url === '/api/notes' && req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const text = String(JSON.parse(body).text);
    const words = ${v2 ? "', ' + text.split(/\\s+/).filter(Boolean).length" : "''"};
    const row = await sql('INSERT INTO notes (text, created_at' + (words ? ', words' : '') + ') VALUES (' + literal(text) + ", '" + new Date().toISOString() + "'" + words + ');' +
      ' SELECT JSON_OBJECT(' + FIELDS + ') FROM notes WHERE id = LAST_INSERT_ID()');
    return send(201, row);
  }
  send(404, { error: 'no route for ' + req.url });
}
const server = http.createServer((req, res) => route(req, res).catch((error) => { res.writeHead(500); res.end(String(error.message)); }));
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('mariadb notes ' + VERSION + ' listening on ' + process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
}

/** migrate.js of one version; each is safe to run again. */
function migrateJs(version: 'v1' | 'v2'): string {
  const statements = [
    'CREATE TABLE IF NOT EXISTS notes (id INT AUTO_INCREMENT PRIMARY KEY, text TEXT NOT NULL, created_at VARCHAR(32) NOT NULL) CHARACTER SET utf8mb4',
    ...(version === 'v2'
      ? [
          'ALTER TABLE notes ADD COLUMN IF NOT EXISTS words INT',
          "UPDATE notes SET words = CHAR_LENGTH(TRIM(text)) - CHAR_LENGTH(REPLACE(TRIM(text), ' ', '')) + 1 WHERE words IS NULL",
        ]
      : []),
  ];
  return `import { sql } from './mariadb-app.js';
await sql(${JSON.stringify(statements.join('; '))});
console.log('migrate: ${version} schema in place');
`;
}

test('a MariaDB accessory: deploy, backup and verify, an update with a migration, rollback --with-data and restore, read from the real database', { timeout: 300_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const installed = installedMariadb();
  if ('missing' in installed) return void skipForMissingTool(t, 'MariaDB server and client binaries', installed.missing);
  const image = ensureMariadbImage(installed);

  // An app name of its own: its containers and volumes are this test's alone.
  const app = `notes-maria-${randomBytes(3).toString('hex')}`;
  t.after(() => removeContainersOf(app));
  const env = 'production';
  const fx = await createDataFixture(t, { build: [] });
  const port = await freePort();
  const editProject = (project: ProjectFile) => {
    project.app = app;
    project.data.databases = { main: { engine: 'mysql', url_env: 'DATABASE_URL', accessory: 'db' } };
    project.data.folders = [];
    project.accessories = {
      db: {
        image,
        volumes: ['mariadb-data:/var/lib/mysql'],
        env: { MARIADB_USER: 'notes', MARIADB_DATABASE: 'notes' },
        secrets: ['MARIADB_PASSWORD'],
        port,
        // What `init --from-compose` writes for a MariaDB image: arguments of its server.
        command: ['--bind-address=127.0.0.1', `--port=${port}`],
      },
    };
  };
  for (const version of ['v1', 'v2'] as const) {
    await fx.commitVariant({
      base: 'v1',
      tag: `${version}-maria`,
      files: { 'mariadb-app.js': appPrelude(installed.client), 'server.js': serverJs(version), 'migrate.js': migrateJs(version) },
      editProject,
    });
    await fx.build(`${version}-maria`);
  }

  const outputs: string[] = [];
  const cli = async (args: string[]) => {
    const result = await fx.cli(args);
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  for (const assignment of [`MARIADB_PASSWORD=${PASSWORD}`, `DATABASE_URL=mysql://notes:${PASSWORD}@127.0.0.1:${port}/notes`]) {
    const set = await cli(['config', env, 'set', assignment]);
    assert.equal(set.code, 0, describe(set));
  }
  const started = await cli(['accessory', 'start', env, 'db']);
  assert.equal(started.code, 0, describe(started));
  const container = `slipway-${app}-${env}-db`;
  assert.match(started.stdout, new RegExp(`db: created \\(container ${container}, .*\\), answering on 127\\.0\\.0\\.1:${port}`));
  const logs = await cli(['accessory', 'logs', env, 'db', '-n', '200']);
  assert.match(logs.stdout + logs.stderr, /initialized \/var\/lib\/mysql: database notes, user notes/);

  // As with the official image, the user may use its own database only; the scratch databases
  // `backup verify` restores into need a grant, given as root over the container's socket.
  const granted = spawnSync('docker', ['exec', container, 'mariadb', '-e', "GRANT ALL ON `slipway\\_verify\\_%`.* TO 'notes'@'%'"], { encoding: 'utf8' });
  assert.equal(granted.status, 0, granted.stderr);

  const sql = (statement: string): string => {
    const answer = mariadbOnPort({ port, user: 'notes', password: PASSWORD, database: 'notes', sql: statement });
    assert.ok(answer.ok, answer.out);
    return answer.out.trim();
  };
  const rows = () => sql("SELECT CONCAT_WS('|', id, text) FROM notes ORDER BY id");
  const columns = () => sql("SELECT GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'notes' AND table_name = 'notes'");

  await fx.startAgent({ environment: env });
  const deployed = await cli(['deploy', env, '--version', 'v1-maria', '--yes']);
  assert.equal(deployed.code, 0, describe(deployed));
  const web = fx.app(env);
  assert.equal(await web.version(), 'v1');
  await web.addNote('kept in the accessory');
  await web.addNote('backed up before the update');
  assert.equal(rows(), '1|kept in the accessory\n2|backed up before the update', 'the app writes to the accessory\'s MariaDB');

  const backup = await cli(['backup', env, '--json']);
  assert.equal(backup.code, 0, describe(backup));
  const taken = JSON.parse(backup.stdout) as { id: string; items: Array<{ name: string; engine: string }> };
  assert.deepEqual(taken.items.map((i) => [i.name, i.engine]), [['main', 'mysql']]);
  const verified = await cli(['backup', 'verify', env, taken.id]);
  assert.equal(verified.code, 0, describe(verified));
  assert.doesNotMatch(sql('SHOW DATABASES'), /slipway_verify_/, 'the scratch database is gone');

  // v2: its migration adds words and fills it; v2 writes a row of its own.
  const updated = await cli(['deploy', env, '--version', 'v2-maria', '--yes']);
  assert.equal(updated.code, 0, describe(updated));
  assert.equal(await web.version(), 'v2');
  assert.equal(columns(), 'id,text,created_at,words', 'v2 migrated the accessory\'s database');
  await web.addNote('written by v2 only');
  assert.deepEqual((await web.notes()).map((n) => [n.text, n.words]), [['kept in the accessory', 4], ['backed up before the update', 5], ['written by v2 only', 4]]);

  // Code and data back as they were before the update: v1, its schema, its rows only.
  const back = await cli(['rollback', env, '--with-data', '--yes']);
  assert.equal(back.code, 0, describe(back));
  assert.equal(await web.version(), 'v1');
  assert.equal(columns(), 'id,text,created_at', 'the migration is undone with the data');
  assert.equal(rows(), '1|kept in the accessory\n2|backed up before the update');
  const backups = json<Array<{ id: string; reason: string }>>(await cli(['backups', env, '--json']));
  assert.ok(backups.some((b) => b.reason === 'pre-deploy'), `the update took its backup through the accessory: ${JSON.stringify(backups)}`);

  // Changed behind the app's back and through it, then the first backup restored.
  await web.addNote('written after the rollback');
  sql("UPDATE notes SET text = 'changed by hand' WHERE id = 1");
  assert.equal(rows(), '1|changed by hand\n2|backed up before the update\n3|written after the rollback');
  const restored = await cli(['restore', env, taken.id, '--yes']);
  assert.equal(restored.code, 0, describe(restored));
  assert.equal(rows(), '1|kept in the accessory\n2|backed up before the update', 'the rows of the backup are back, and only those');
  assert.deepEqual((await web.notes()).map((n) => n.text), ['kept in the accessory', 'backed up before the update'], 'and the app serves them');

  // The accessory ran through all of it: the same container, never restarted by a deploy.
  const status = await cli(['accessory', 'status', env, '--json']);
  assert.equal(status.code, 0, describe(status));
  const [db] = JSON.parse(status.stdout) as Array<{ name: string; state: string; image: string; port: number; answering: boolean; drift: string[] }>;
  assert.deepEqual([db!.name, db!.state, db!.image, db!.port, db!.answering, db!.drift], ['db', 'running', image, port, true, []]);
  const restarts = spawnSync('docker', ['inspect', container, '--format', '{{.RestartCount}} {{.State.StartedAt}}'], { encoding: 'utf8' }).stdout.trim();
  assert.match(restarts, /^0 /, `the container was not restarted: ${restarts}`);

  for (const text of outputs) assert.equal(text.includes(PASSWORD), false, `a password in the output:\n${text}`);
});
