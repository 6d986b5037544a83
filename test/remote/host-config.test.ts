/**
 * What `slipway setup` writes on a remote host: its own slipway.yml (parsed back with the
 * real config loader) and the systemd unit of its agent (checked with systemd-analyze
 * where it exists).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseProjectText } from '../../src/config/load.js';
import type { EnvironmentConfig, ProjectConfig } from '../../src/config/types.js';
import { formatDuration, renderRemoteHostConfig } from '../../src/remote/host-config.js';
import { agentCommand, manualStartInstructions, nohupCommandLine, renderSystemdUnit, unitNameFor } from '../../src/remote/systemd-unit.js';
import { tempDir } from '../helpers/temp-dir.js';
import { expectThrows } from '../helpers/expect-error.js';

const execFileAsync = promisify(execFile);

const FULL_PROJECT = `
app: notes
services:
  web:
    command: node server.js --port "$PORT"
    port_env: WEB_PORT
    env:
      NODE_ENV: production
      LEVEL: "0123"
      FLAG: true
    health:
      path: /up
      interval: 250ms
      timeout: 1.5s
      successes: 3
      deadline: 2m
  worker:
    command: node worker.js
build:
  commands: [npm ci, npm run build]
  exclude: [".git/**"]
data:
  databases:
    main: { engine: sqlite, path: data/app.db }
    reports: { engine: postgres, url_env: REPORTS_URL }
  folders: [uploads]
migrate:
  command: npm run migrate
  reversible: true
  timeout: 90s
hooks:
  before_migrate: [npm run check]
  after_switch: echo switched
config:
  SESSION_SECRET: { required: true, secret: true, description: "signs cookies: keep it long" }
  LOG_LEVEL: { default: info }
environments:
  staging:
    port: 8081
  production:
    host: ssh://deploy@app1.example.com:2222
    port: 8080
    bind: 127.0.0.1
    store: { type: s3, bucket: releases, region: eu-west-1 }
    require_signature: true
    public_keys: [keys/prod.pub, ops/keys/prod.pub, ci.pub]
    retention: { releases: 3, backups: { last: 4, daily: 2, weekly: 1 } }
    health_window: 30s
    drain_timeout: 2500ms
    pull: { interval: 30s }
    management: { port: 9443 }
    backup_key_env: SLIPWAY_BACKUP_KEY
    offsite_backups: true
    backup_schedule: "*/15 2 * * *"
signing:
  key: keys/slipway.key
upgrade:
  from: ">=v2"
`;

const MINIMAL_PROJECT = `
app: tiny
services:
  web:
    command: npm start
environments:
  production:
    port: 3000
`;

function parseOrFail(text: string, file = 'slipway.yml'): ProjectConfig {
  const parsed = parseProjectText(text, file);
  assert.deepEqual(parsed.problems, [], `${file} should parse:\n${text}`);
  assert.ok(parsed.config);
  return parsed.config;
}

function environmentOf(project: ProjectConfig, name: string): EnvironmentConfig {
  const env = project.environments.find((e) => e.name === name);
  assert.ok(env, `environment ${name}`);
  return env;
}

describe('renderRemoteHostConfig', () => {
  test('a container app: its services stay containers, its accessories and their database, the registry by the names of its variables', () => {
    const project = parseOrFail(`
app: shop
services:
  web:
    build: { context: ., target: web, args: { NODE_ENV: production } }
    health: { path: /up }
  worker:
    image: shop-worker:1
    command: node worker.js
    health: false
accessories:
  db:
    image: postgres:15
    volumes: [pgdata:/var/lib/postgresql/data, ./backups:/backups]
    env: { POSTGRES_DB: shop }
    secrets: [POSTGRES_PASSWORD]
    port: 25432
    command: [-c, listen_addresses=127.0.0.1]
data:
  databases:
    main: { engine: postgres, url_env: DATABASE_URL, accessory: db }
environments:
  production:
    host: ssh://deploy@app1.example.com
    port: 8080
    registry: { url: "registry.example.com:5000/team", username_env: REG_USER, password_env: REG_PASSWORD }
`);
    const production = environmentOf(project, 'production');
    const rendered = renderRemoteHostConfig({ project, environment: production, host: { name: 'app1', root: '/srv/shop' } });
    const hostProject = parseOrFail(rendered.yaml, '/srv/shop/slipway.yml');
    assert.deepEqual(hostProject.services, project.services);
    assert.deepEqual(hostProject.accessories, project.accessories);
    assert.deepEqual(hostProject.data.databases, project.data.databases);
    assert.deepEqual(hostProject.environments[0]!.registry, { url: 'registry.example.com:5000/team', usernameEnv: 'REG_USER', passwordEnv: 'REG_PASSWORD' });
  });

  test("a host's file parses to one local environment of the same name, with the host's root, store, overrides and hostname", () => {
    const project = parseOrFail(FULL_PROJECT);
    const production = environmentOf(project, 'production');
    const root = '/srv/slip way/app1';
    const rendered = renderRemoteHostConfig({ project, environment: production, host: { name: 'app1', root, port: 9090, bind: '0.0.0.0', services: ['web'] } });
    const hostProject = parseOrFail(rendered.yaml, '/srv/slip way/app1/slipway.yml');

    assert.equal(hostProject.app, 'notes');
    assert.deepEqual(hostProject.environments.map((e) => e.name), ['production']);
    const env = hostProject.environments[0]!;
    assert.equal(env.host, 'local');
    assert.equal(env.root, root);
    assert.deepEqual(env.store, { type: 'local', path: '/srv/slip way/app1/store' });
    assert.equal(env.port, 9090);
    assert.equal(env.bind, '0.0.0.0');
    assert.equal(env.hostname, 'app1');
    assert.deepEqual((env as EnvironmentConfig & { services?: string[] }).services, ['web']);

    // the environment's own settings carried over
    assert.equal(env.requireSignature, true);
    assert.deepEqual(env.retention, production.retention);
    assert.equal(env.healthWindowMs, 30_000);
    assert.equal(env.drainTimeoutMs, 2500);
    assert.equal(env.backupKeyEnv, 'SLIPWAY_BACKUP_KEY');
    assert.equal(env.backupSchedule, '*/15 2 * * *');
    // the host's store is a local folder: no pull, no management API; its off-site copies go to the environment's S3 store
    // (host-config-offsite.test.ts covers when they do and do not)
    assert.equal(env.offsiteBackups, true);
    assert.deepEqual(env.offsiteStore, production.store);
    assert.equal(env.pull, null);
    assert.equal(env.management, null);

    // public keys: copied next to the file, same-named ones kept apart
    assert.deepEqual(rendered.publicKeyFiles, [
      { from: 'keys/prod.pub', to: 'keys/prod.pub' },
      { from: 'ops/keys/prod.pub', to: 'keys/prod-2.pub' },
      { from: 'ci.pub', to: 'keys/ci.pub' },
    ]);
    assert.deepEqual(env.publicKeys, ['keys/prod.pub', 'keys/prod-2.pub', 'keys/ci.pub']);

    // the app's sections round-trip exactly
    assert.deepEqual(hostProject.services, project.services);
    assert.deepEqual(hostProject.data, project.data);
    assert.deepEqual(hostProject.migrate, project.migrate);
    assert.deepEqual(hostProject.hooks, project.hooks);
    assert.deepEqual(hostProject.config, project.config);
    assert.deepEqual(hostProject.upgrade, project.upgrade);
    // nothing the host must not have: no build steps, no signing key
    assert.deepEqual(hostProject.build, { commands: [], include: [], exclude: [] });
    assert.deepEqual(hostProject.signing, {});
    assert.doesNotMatch(rendered.yaml, /slipway\.key|npm ci|9443|pull|management/);
    assert.match(rendered.yaml, /^# Written by `slipway setup` for host app1 of environment production of notes\./);
  });

  test('without overrides the host takes the environment\'s port and bind, and runs every service', () => {
    const project = parseOrFail(MINIMAL_PROJECT);
    const production = environmentOf(project, 'production');
    const rendered = renderRemoteHostConfig({ project, environment: production, host: { name: 'web-1', root: '/home/deploy/.slipway/hosts/tiny/production' } });
    const env = parseOrFail(rendered.yaml).environments[0]!;
    assert.equal(env.port, 3000);
    assert.equal(env.bind, '127.0.0.1');
    assert.equal(env.hostname, 'web-1');
    assert.deepEqual(env.store, { type: 'local', path: '/home/deploy/.slipway/hosts/tiny/production/store' });
    assert.equal((env as EnvironmentConfig & { services?: string[] }).services, undefined);
    assert.doesNotMatch(rendered.yaml, /^\s*services:\s*\[/m);
    assert.deepEqual(rendered.publicKeyFiles, []);
    assert.deepEqual(env.publicKeys, []);
    assert.equal(env.requireSignature, false);
    assert.equal(env.backupKeyEnv, undefined);
    assert.equal(env.backupSchedule, undefined);
    assert.equal(env.healthWindowMs, production.healthWindowMs);
    assert.equal(env.drainTimeoutMs, production.drainTimeoutMs);
    const hostProject = parseOrFail(rendered.yaml);
    assert.deepEqual(hostProject.services, project.services);
    assert.equal(hostProject.migrate, null);
    assert.deepEqual(hostProject.data, { databases: [], folders: [] });
  });

  test('a relative root or a service the project does not have is refused', () => {
    const project = parseOrFail(MINIMAL_PROJECT);
    const production = environmentOf(project, 'production');
    expectThrows(() => renderRemoteHostConfig({ project, environment: production, host: { name: 'a', root: 'srv/app' } }), 'REMOTE_HOST_ROOT_INVALID', /srv\/app/);
    expectThrows(() => renderRemoteHostConfig({ project, environment: production, host: { name: 'a', root: '/srv/app', services: ['web', 'auth'] } }), 'REMOTE_HOST_UNKNOWN_SERVICE', { message: /auth/, hint: /web/ });
  });

  test("data_copy reaches the host's file: the schedule, the scrub file next to it, and the source as the host's agent finds its backups", () => {
    const project = parseOrFail(`
app: notes
services:
  web: { command: npm start }
data:
  databases:
    main: { engine: sqlite, path: data/app.db }
environments:
  production:
    hosts:
      app1: { ssh: ssh://deploy@app1.example.com }
      app2: { ssh: ssh://deploy@app2.example.com }
    port: 8080
    store: { type: s3, bucket: releases, region: eu-west-1, prefix: notes/ }
    backup_key_env: PROD_BACKUP_KEY
    offsite_backups: true
  staging:
    hosts:
      stage1: { ssh: ssh://deploy@stage1.example.com }
    port: 8081
    data_copy: { from: production, schedule: "0 3 * * *", scrub: db/scrub.sql }
  preview:
    hosts:
      preview1: { ssh: ssh://deploy@preview1.example.com }
    port: 8082
    data_copy: { from: production, schedule: "30 4 * * 1", no_scrub: true }
`);
    const staging = environmentOf(project, 'staging');
    const rendered = renderRemoteHostConfig({ project, environment: staging, host: { name: 'stage1', root: '/srv/notes' } });
    assert.deepEqual(rendered.scrubFile, { from: 'db/scrub.sql', to: 'data-copy/scrub.sql' });
    const hostProject = parseOrFail(rendered.yaml, '/srv/notes/slipway.yml');
    const hostStaging = environmentOf(hostProject, 'staging');
    // The host's agent resolves the scrub file against the host's root, where setup puts it.
    assert.deepEqual(hostStaging.dataCopy, { from: 'production', schedule: '0 3 * * *', scrubFile: 'data-copy/scrub.sql', noScrub: false });
    assert.equal(hostStaging.host, 'local');
    // The source: another server (its first host), its store and the variable naming its backup key, as copy-source.ts reads them.
    const source = environmentOf(hostProject, 'production');
    assert.equal(source.host, 'ssh://deploy@app1.example.com');
    assert.notEqual(source.host, hostStaging.host, 'the host copies through the store, not from a folder of its own');
    assert.deepEqual(source.store, environmentOf(project, 'production').store);
    assert.equal(source.backupKeyEnv, 'PROD_BACKUP_KEY');
    assert.deepEqual(source.dataCopy, undefined);

    const preview = renderRemoteHostConfig({ project, environment: environmentOf(project, 'preview'), host: { name: 'preview1', root: '/srv/notes' } });
    assert.equal(preview.scrubFile, null);
    assert.deepEqual(environmentOf(parseOrFail(preview.yaml), 'preview').dataCopy, { from: 'production', schedule: '30 4 * * 1', noScrub: true });

    // Without data_copy the host's file names its own environment only, as before.
    const plain = renderRemoteHostConfig({ project, environment: environmentOf(project, 'production'), host: { name: 'app1', root: '/srv/notes' } });
    assert.equal(plain.scrubFile, null);
    assert.deepEqual(parseOrFail(plain.yaml).environments.map((e) => e.name), ['production']);
    assert.equal(environmentOf(parseOrFail(plain.yaml), 'production').dataCopy, undefined);
  });

  test('a data_copy from an environment on the operator\'s machine is refused: the host cannot reach it', () => {
    const project = parseOrFail(`
app: notes
services:
  web: { command: npm start }
environments:
  production:
    port: 8080
  staging:
    host: ssh://deploy@stage1.example.com
    port: 8081
    data_copy: { from: production, schedule: "0 3 * * *", no_scrub: true }
`);
    expectThrows(() => renderRemoteHostConfig({ project, environment: environmentOf(project, 'staging'), host: { name: 'stage1', root: '/srv/notes' } }), 'REMOTE_DATA_COPY_SOURCE_LOCAL', { message: /production/, hint: /data copy/ });
  });

  test('durations are written so the schema reads back the same milliseconds', () => {
    for (const [ms, text] of [[0, '0ms'], [250, '250ms'], [1500, '1500ms'], [2000, '2s'], [90_000, '90s'], [120_000, '2m'], [7_200_000, '2h']] as const) {
      assert.equal(formatDuration(ms), text);
    }
  });
});

const AGENT = {
  nodePath: '/usr/bin/node',
  cliPath: '/opt/slipway/bin/slipway.js',
  configFile: '/srv/app/slipway.yml',
  environment: 'production',
  home: '/srv/app/home',
};

describe('systemd unit', () => {
  test('unitNameFor gives slipway-<app>-<env>.service, reduced to what systemd accepts', () => {
    assert.equal(unitNameFor('notes', 'production'), 'slipway-notes-production.service');
    assert.equal(unitNameFor('My App', 'prod/eu'), 'slipway-my-app-prod-eu.service');
    const long = unitNameFor('a'.repeat(300), 'production');
    assert.ok(long.length <= 255 && long.endsWith('.service') && long.startsWith('slipway-aaa'), long);
    assert.notEqual(long, unitNameFor(`${'a'.repeat(299)}b`, 'production'));
    expectThrows(() => unitNameFor('///', 'production'), 'UNIT_NAME_INVALID');
  });

  test('the unit runs the agent in the foreground with the required service settings', () => {
    const unit = renderSystemdUnit({ ...AGENT, unitName: 'slipway-notes-production.service', user: 'deploy' });
    const lines = unit.split('\n');
    const sectionOf = (line: string) => {
      const index = lines.indexOf(line);
      assert.ok(index >= 0, `missing line ${line}\n${unit}`);
      return lines.slice(0, index).filter((l) => /^\[.+\]$/.test(l)).pop();
    };
    assert.equal(sectionOf('Type=simple'), '[Service]');
    assert.equal(sectionOf('Restart=on-failure'), '[Service]');
    assert.equal(sectionOf('RestartSec=2'), '[Service]');
    assert.equal(sectionOf('KillMode=mixed'), '[Service]');
    assert.equal(sectionOf('TimeoutStopSec=60'), '[Service]');
    assert.equal(sectionOf('User=deploy'), '[Service]');
    assert.equal(sectionOf('Environment="SLIPWAY_HOME=/srv/app/home"'), '[Service]');
    assert.equal(sectionOf('Environment="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'), '[Service]');
    assert.equal(
      sectionOf('ExecStart="/usr/bin/node" "/opt/slipway/bin/slipway.js" "agent" "--env" "production" "--config" "/srv/app/slipway.yml"'),
      '[Service]',
    );
    assert.equal(sectionOf('After=network-online.target'), '[Unit]');
    assert.equal(sectionOf('WantedBy=multi-user.target'), '[Install]');
    assert.deepEqual(lines.filter((l) => /^\[.+\]$/.test(l)), ['[Unit]', '[Service]', '[Install]']);
    assert.equal(lines.filter((l) => l.startsWith('ExecStart=')).length, 1);

    // node's own folder goes first on PATH, so the app's `node`/`npm` commands are found
    const nvm = renderSystemdUnit({ ...AGENT, nodePath: '/home/deploy/.nvm/versions/node/v20.1.0/bin/node', unitName: 'slipway-notes-production.service' });
    assert.ok(nvm.includes('Environment="PATH=/home/deploy/.nvm/versions/node/v20.1.0/bin:/usr/local/sbin:'), nvm);
    assert.doesNotMatch(nvm, /^User=/m);

    const userUnit = renderSystemdUnit({ ...AGENT, unitName: 'slipway-notes-production.service', scope: 'user', environmentFile: '/srv/app/agent.env' });
    assert.match(userUnit, /^WantedBy=default\.target$/m);
    assert.match(userUnit, /^EnvironmentFile=-\/srv\/app\/agent\.env$/m);
  });

  test('values are escaped for systemd: spaces, quotes, backslashes, % and $', () => {
    const unit = renderSystemdUnit({
      ...AGENT,
      unitName: 'slipway-notes-production.service',
      nodePath: '/opt/node 20/100%/$x/node',
      cliPath: '/opt/my apps/100%/slip"way\\bin/$HOME.js',
      configFile: '/srv/a b/slipway.yml',
      home: '/srv/50% off/"home"',
      environmentFile: '/srv/a b/%n.env',
    });
    // the program gets no $ expansion from systemd, so its $ stays single
    assert.ok(unit.includes('ExecStart="/opt/node 20/100%%/$x/node" "/opt/my apps/100%%/slip\\"way\\\\bin/$$HOME.js" "agent" "--env" "production" "--config" "/srv/a b/slipway.yml"'), unit);
    // Environment= does not expand $, so only specifiers, quotes and backslashes are escaped there
    assert.ok(unit.includes('Environment="SLIPWAY_HOME=/srv/50%% off/\\"home\\""'), unit);
    assert.ok(unit.includes('EnvironmentFile=-/srv/a b/%%n.env'), unit);
    // every % left in the unit is doubled (a lone % would be a specifier)
    assert.doesNotMatch(unit.replace(/%%/g, ''), /%/);
  });

  test('newlines and other control characters, relative paths and bad names are refused', () => {
    const refused = (options: Parameters<typeof renderSystemdUnit>[0], code: string) =>
      expectThrows(() => renderSystemdUnit(options), code, { exitCode: 2 });
    const base = { ...AGENT, unitName: 'slipway-notes-production.service' };
    refused({ ...base, configFile: '/srv/app/slipway.yml\nExecStartPre=/bin/rm -rf /' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, home: '/srv/a\rb' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, cliPath: '/opt/slipway\0/bin/slipway.js' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, nodePath: 'node' }, 'UNIT_VALUE_INVALID');
    // systemd itself refuses these in the program's path ("Executable name contains special characters")
    refused({ ...base, nodePath: '/opt/it\'s/node' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, nodePath: '/opt/"x"/node' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, nodePath: '/opt/a\\b/node' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, environment: 'prod\n[Install]' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, environment: 'Prod Env' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, environmentFile: '/srv/env\\' }, 'UNIT_VALUE_INVALID');
    refused({ ...base, user: 'deploy\nUser=root' }, 'UNIT_USER_INVALID');
    refused({ ...base, user: 'deploy', scope: 'user' }, 'UNIT_USER_INVALID');
    refused({ ...base, unitName: 'slipway notes.service' }, 'UNIT_NAME_INVALID');
    refused({ ...base, unitName: 'slipway-notes' }, 'UNIT_NAME_INVALID');
  });

  test('systemd-analyze verify accepts the rendered unit, quoted paths included', async (t) => {
    const analyze = await execFileAsync('systemd-analyze', ['--version']).then(() => true, () => false);
    if (!analyze) {
      // loudly: a skipped verify means the unit's syntax was only checked by the assertions above
      t.diagnostic('SKIPPED: systemd-analyze is not installed; the rendered unit was not verified by systemd');
      t.skip('systemd-analyze is not installed: the rendered unit was not verified by systemd');
      return;
    }
    const dir = tempDir(t);
    // A node reachable only through a path that needs quoting and escaping: verify checks that
    // ExecStart's program exists and is executable, so it proves the path is read back right.
    const oddDir = path.join(dir, 'node 100% $x;y');
    fs.mkdirSync(oddDir);
    const nodePath = path.join(oddDir, 'node');
    fs.symlinkSync(process.execPath, nodePath);
    const unitName = unitNameFor('notes', 'production');
    const unitFile = path.join(dir, unitName);
    fs.writeFileSync(unitFile, renderSystemdUnit({ ...AGENT, unitName, nodePath, cliPath: path.join(dir, 'bin dir', 'slipway.js'), home: path.join(dir, 'home 50%') }));
    const verify = (file: string) =>
      execFileAsync('systemd-analyze', ['verify', '--man=no', file], { env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } }).then(
        (r) => ({ ok: true, output: `${r.stdout}${r.stderr}` }),
        (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
      );
    const accepted = await verify(unitFile);
    assert.ok(accepted.ok, accepted.output);
    assert.doesNotMatch(accepted.output, new RegExp(unitName.replace(/\./g, '\\.')), accepted.output);

    // and verify does look: the same unit with a program that does not exist is rejected
    const missing = path.join(dir, 'missing', unitName);
    fs.mkdirSync(path.dirname(missing));
    fs.writeFileSync(missing, renderSystemdUnit({ ...AGENT, unitName, nodePath: path.join(oddDir, 'no-node-here') }));
    const rejected = await verify(missing);
    assert.equal(rejected.ok, false, rejected.output);
    assert.match(rejected.output, /no-node-here/);
  });

  test('where systemd does not run: a nohup line, a crontab line and a foreground command, all valid sh', async (t) => {
    const options = { ...AGENT, cliPath: "/opt/it's 100%/bin/slipway.js", home: '/srv/$HOME', logFile: '/srv/app/logs/agent.log' };
    assert.deepEqual(agentCommand(options), [AGENT.nodePath, "/opt/it's 100%/bin/slipway.js", 'agent', '--env', 'production', '--config', AGENT.configFile]);
    const line = nohupCommandLine(options);
    assert.equal(
      line,
      `SLIPWAY_HOME='/srv/$HOME' nohup /usr/bin/node '/opt/it'\\''s 100%/bin/slipway.js' agent --env production --config /srv/app/slipway.yml >>/srv/app/logs/agent.log 2>&1 </dev/null &`,
    );
    const text = manualStartInstructions(options);
    assert.match(text, /systemd does not run on this host/);
    assert.ok(text.includes(`  ${line}`), text);
    assert.ok(text.includes(`@reboot SLIPWAY_HOME='/srv/$HOME' nohup /usr/bin/node '/opt/it'\\''s 100\\%/bin/slipway.js'`), text);
    assert.match(text, /agent\.log/);

    // the shell reads the words back exactly (printf instead of node, no nohup, no background)
    const dir = tempDir(t);
    const probe = line
      .replace(' nohup /usr/bin/node ', () => ` sh -c 'printf "%s\\n" "$SLIPWAY_HOME" "$@"' probe `)
      .replace(' </dev/null &', '')
      .replace('>>/srv/app/logs/agent.log', () => `>>${path.join(dir, 'out')}`);
    await execFileAsync('sh', ['-c', probe]);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'out'), 'utf8').trimEnd().split('\n'), ['/srv/$HOME', ...agentCommand(options).slice(1)]);
  });
});
