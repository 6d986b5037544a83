/**
 * A small container app for fleet tests (test/remote/fleet-containers): its web service is
 * built from a Dockerfile FROM the local node base image, in two layers of its own (lib.js,
 * then server.js), so v1 → v2 (server.js changed) changes one layer. Both commits carry the
 * same date: the build gives every file of the context the commit's date, so lib.js's layer
 * comes out the same in both. Optionally a PostgreSQL accessory whose database is backed up.
 *
 * Also a counter of the bytes the CLI sends to the hosts over SSH: a ProxyCommand that
 * relays each connection and writes how much it carried so far, before passing it on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const COMMIT_DATE = '2026-01-05T12:00:00Z';

export interface ContainerAppOptions {
  app: string;
  /** a PostgreSQL accessory `db` on this loopback port, from this image, backing the database `main` */
  postgres?: { image: string; port: number };
}

function serverSource(app: string, version: string): string {
  return `const http = require('node:http');
const lib = require('./lib.js');
const VERSION = '${version}';
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/version') return res.end(VERSION);
  res.end(lib.app + ' ' + VERSION);
});
server.keepAliveTimeout = 1000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('${app} ' + VERSION + ' listening on ' + process.env.PORT));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});
`;
}

function slipwayYml(o: ContainerAppOptions): string {
  const lines = [
    `app: ${o.app}`,
    'services:',
    '  web:',
    '    build: .',
    '    port_env: PORT',
    '    health: { path: /healthz, interval: 100ms, timeout: 1s, successes: 1, deadline: 20s }',
  ];
  if (o.postgres) {
    lines.push(
      'accessories:',
      '  db:',
      `    image: ${o.postgres.image}`,
      '    volumes: [pgdata:/var/lib/postgresql/data]',
      '    env: { POSTGRES_USER: app, POSTGRES_DB: app }',
      '    secrets: [POSTGRES_PASSWORD]',
      `    port: ${o.postgres.port}`,
      `    command: [postgres, -p, "${o.postgres.port}"]`,
      'data:',
      '  databases:',
      '    main: { engine: postgres, url_env: DATABASE_URL, accessory: db }',
    );
  }
  lines.push('environments:', '  production:', '    port: 8080', '');
  return lines.join('\n');
}

/** Writes the app's repository into `repo`: tags v1 and v2 (server.js says its version), HEAD at v2. */
export function writeContainerAppRepo(repo: string, o: ContainerAppOptions): void {
  fs.mkdirSync(repo, { recursive: true });
  const env = { ...process.env, GIT_AUTHOR_DATE: COMMIT_DATE, GIT_COMMITTER_DATE: COMMIT_DATE };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  git('init', '-q', '-b', 'main');
  for (const [key, value] of [['user.name', 'Fleet Containers'], ['user.email', 'fleet-containers@example.invalid'], ['commit.gpgsign', 'false'], ['tag.gpgsign', 'false']] as const) git('config', key, value);
  // The app's name in lib.js: no image of another run on this engine holds these layers. Its
  // padding (random, so gzip cannot shrink it much) makes its layer weigh: sending it again shows.
  fs.writeFileSync(path.join(repo, 'lib.js'), `module.exports = { app: '${o.app}', padding: '${randomBytes(192 * 1024).toString('base64')}' };\n`);
  fs.writeFileSync(path.join(repo, 'Dockerfile'), 'FROM slipway-test/node-base:1\nCOPY lib.js /app/lib.js\nCOPY server.js /app/server.js\nCMD ["/usr/bin/node", "/app/server.js"]\n');
  fs.writeFileSync(path.join(repo, 'slipway.yml'), slipwayYml(o));
  for (const version of ['v1', 'v2']) {
    fs.writeFileSync(path.join(repo, 'server.js'), serverSource(o.app, version));
    git('add', '-A');
    git('commit', '-q', '-m', `${o.app} ${version}`);
    git('tag', '-a', version, '-m', `${o.app} ${version}`);
  }
}

const COUNTING_PROXY = `const net = require('node:net');
const fs = require('node:fs');
const [host, port, file] = process.argv.slice(2);
let sent = 0;
const socket = net.connect(Number(port), host);
process.stdin.on('data', (chunk) => {
  sent += chunk.length;
  // written before the bytes go on: once the host has them, the count says so. Through a rename:
  // ssh kills its proxy as it ends, which must not leave a count half written.
  fs.writeFileSync(file + '.tmp', String(sent));
  fs.renameSync(file + '.tmp', file);
});
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
`;

export interface SshByteCounter {
  /** the ssh_config line that routes every connection through the counter */
  sshOption: string;
  /** bytes the client side has sent to the hosts so far, over every connection */
  sentBytes(): number;
  remove(): void;
}

/** A ProxyCommand counting what ssh sends (encrypted: the payload plus a little framing). */
export function createSshByteCounter(): SshByteCounter {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-sshcount-'));
  const script = path.join(dir, 'count.cjs');
  fs.writeFileSync(script, COUNTING_PROXY);
  const counts = path.join(dir, 'counts');
  fs.mkdirSync(counts);
  // ssh runs it as `exec <command>` in a shell: $$, the shell's pid, is the relay's own, one file per connection.
  const sshOption = `ProxyCommand "${process.execPath}" "${script}" %h %p "${counts}/$$"`;
  return {
    sshOption,
    sentBytes: () =>
      fs
        .readdirSync(counts)
        .filter((name) => !name.endsWith('.tmp'))
        .reduce((sum, name) => sum + Number(fs.readFileSync(path.join(counts, name), 'utf8')), 0),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface AppContainer {
  name: string;
  state: string;
  labels: Record<string, string>;
}

/** The containers carrying this app's label (stopped ones too), with their slipway labels. */
export function appContainers(app: string): AppContainer[] {
  const ids = spawnSync('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=dev.slipway.app=${app}`], { encoding: 'utf8' }).stdout.trim();
  if (ids === '') return [];
  const inspected = JSON.parse(spawnSync('docker', ['inspect', ...ids.split(/\s+/)], { encoding: 'utf8' }).stdout) as { Name: string; State: { Status: string }; Config: { Labels: Record<string, string> | null } }[];
  return inspected.map((c) => ({
    name: c.Name.replace(/^\//, ''),
    state: c.State.Status,
    labels: Object.fromEntries(Object.entries(c.Config.Labels ?? {}).filter(([key]) => key.startsWith('dev.slipway.'))),
  }));
}

/** "image of web loaded: 2 of 3 layer(s) fetched (…)" from the host's fetch step, as [fetched, layers]; null when absent. */
export function loadedLayers(output: string): [number, number] | null {
  const match = /image of web loaded: (\d+) of (\d+) layer\(s\) fetched/.exec(output);
  return match ? [Number(match[1]), Number(match[2])] : null;
}
