import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProjectText } from '../../src/config/load.js';
import { parseDuration } from '../../src/config/schema-fields.js';
import type { ProjectConfig } from '../../src/config/types.js';

const FULL = `
app: notes
services:
  web:
    command: node server.js
    port_env: HTTP_PORT
    env: { NODE_ENV: production, WORKERS: 4, DEBUG: false }
    health:
      path: /up
      interval: 250ms
      timeout: 1.5s
      successes: 3
      deadline: 1m
  worker:
    command: node worker.js
build:
  commands: [npm ci --omit=dev, npm run build]
  include: ["dist/**", package.json]
  exclude: [".git/**"]
data:
  databases:
    main: { engine: sqlite, path: data/notes.db }
    pg: { engine: postgres, url_env: DATABASE_URL }
  folders: [uploads]
migrate:
  command: node migrate.js
hooks:
  before_migrate: [echo hi, echo there]
  after_finish: echo done
config:
  NOTES_TITLE: { default: "Notes", description: "shown in the header" }
  SESSION_SECRET: { required: true, secret: true }
  MAX_UPLOAD_MB: { default: 25 }
environments:
  production:
    host: ssh://deploy@notes.example.com:2222
    root: /srv/notes
    port: 8080
    store: { type: s3, bucket: notes-releases, region: eu-west-1, prefix: rel/ }
    require_signature: true
    public_keys: [keys/prod.pub]
    retention: { releases: 3, backups: { last: 20 } }
    health_window: 2m
    drain_timeout: 0
  staging:
    port: 8081
signing:
  key: keys/slipway.key
`;

test('a full valid file parses into the normalized config, with durations in ms and defaults applied', () => {
  const result = parseProjectText(FULL, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.warnings, []);
  const expected: ProjectConfig = {
    app: 'notes',
    accessories: [],
    services: [
      {
        name: 'web',
        command: 'node server.js',
        portEnv: 'HTTP_PORT',
        env: { NODE_ENV: 'production', WORKERS: '4', DEBUG: 'false' },
        health: { path: '/up', intervalMs: 250, timeoutMs: 1500, successes: 3, deadlineMs: 60_000 },
      },
      {
        name: 'worker',
        command: 'node worker.js',
        portEnv: 'PORT',
        env: {},
        health: { path: '/healthz', intervalMs: 500, timeoutMs: 2000, successes: 2, deadlineMs: 30_000 },
      },
    ],
    build: { commands: ['npm ci --omit=dev', 'npm run build'], include: ['dist/**', 'package.json'], exclude: ['.git/**'] },
    data: {
      databases: [
        { name: 'main', engine: 'sqlite', path: 'data/notes.db' },
        { name: 'pg', engine: 'postgres', urlEnv: 'DATABASE_URL' },
      ],
      folders: ['uploads'],
    },
    migrate: { command: 'node migrate.js', reversible: false, timeoutMs: 600_000 },
    hooks: [
      { when: 'before', step: 'migrate', commands: ['echo hi', 'echo there'] },
      { when: 'after', step: 'finish', commands: ['echo done'] },
    ],
    config: [
      { name: 'NOTES_TITLE', required: false, secret: false, default: 'Notes', description: 'shown in the header' },
      { name: 'SESSION_SECRET', required: true, secret: true },
      { name: 'MAX_UPLOAD_MB', required: false, secret: false, default: '25' },
    ],
    environments: [
      {
        name: 'production',
        host: 'ssh://deploy@notes.example.com:2222',
        hosts: [{ name: 'notes-example-com', ssh: 'ssh://deploy@notes.example.com:2222', root: '/srv/notes', dependsOn: [] }],
        root: '/srv/notes',
        port: 8080,
        bind: '127.0.0.1',
        store: { type: 's3', bucket: 'notes-releases', region: 'eu-west-1', prefix: 'rel/', forcePathStyle: false },
        requireSignature: true,
        publicKeys: ['keys/prod.pub'],
        retention: { releases: 3, backups: { last: 20, daily: 7, weekly: 4 } },
        healthWindowMs: 120_000,
        drainTimeoutMs: 0,
        pull: null,
        management: null,
      },
      {
        name: 'staging',
        host: 'local',
        hosts: [],
        port: 8081,
        bind: '127.0.0.1',
        store: { type: 'local' },
        requireSignature: false,
        publicKeys: [],
        retention: { releases: 5, backups: { last: 10, daily: 7, weekly: 4 } },
        healthWindowMs: 10_000,
        drainTimeoutMs: 10_000,
        pull: null,
        management: null,
      },
    ],
    signing: { key: 'keys/slipway.key' },
  };
  assert.deepEqual(result.config, expected);
});

test('a minimal file gets every default, and no migrate section means migrate: null', () => {
  const result = parseProjectText('app: tiny\nservices:\n  web: { command: ./run }\nenvironments:\n  production: { port: 9000 }\n', 'slipway.yml');
  assert.deepEqual(result.problems, []);
  const config = result.config!;
  assert.equal(config.migrate, null);
  assert.deepEqual(config.build, { commands: [], include: [], exclude: [] });
  assert.deepEqual(config.data, { databases: [], folders: [] });
  assert.deepEqual(config.hooks, []);
  assert.deepEqual(config.config, []);
  assert.deepEqual(config.signing, {});
  assert.equal(config.services[0].portEnv, 'PORT');
  assert.equal(config.services[0].health.path, '/healthz');
  assert.equal(config.environments[0].store.type, 'local');
});

test('empty sections (`health:`, `hooks:`, `migrate:`) count as absent', () => {
  const text = 'app: tiny\nservices:\n  web:\n    command: ./run\n    health:\n    env:\nhooks:\nmigrate:\nenvironments:\n  production: { port: 9000, retention: }\n';
  const result = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.equal(result.config!.migrate, null);
  assert.equal(result.config!.services[0].health.intervalMs, 500);
  assert.equal(result.config!.environments[0].retention.releases, 5);
});

test('two environments on the same host and port give a warning, not an error', () => {
  const text = 'app: a\nservices:\n  web: { command: x }\nenvironments:\n  production:\n    port: 8080\n  staging:\n    port: 8080\n';
  const result = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.ok(result.config);
  assert.equal(result.warnings.length, 1);
  assert.match(result.warnings[0], /^slipway\.yml:8:11: environments\.staging\.port: .*`production` and `staging` both use port 8080 on host local/);
});

test('durations: numbers are milliseconds, strings take ms, s, m and h', () => {
  assert.equal(parseDuration(750), 750);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('1.5m'), 90_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('soon'), undefined);
  assert.equal(parseDuration('10'), undefined);
  assert.equal(parseDuration(-1), undefined);
  assert.equal(parseDuration('2 days'), undefined);
});
