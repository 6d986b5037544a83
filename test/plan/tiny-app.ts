/**
 * A tiny app as a real git repository with tags v1, v2, v3: `server.js` answers
 * /healthz and / (with NOTES_TITLE). v3's slipway.yml declares a new required
 * config key, NOTES_TITLE, a migration, and `upgrade: { from: ">=v2" }`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SERVER = (version: string) => `const http = require('node:http');
const title = process.env.NOTES_TITLE || 'tiny';
http
  .createServer((req, res) => {
    if (req.url === '/healthz') return res.end('ok');
    res.end(title + ' ${version}\\n');
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

function slipwayYml(o: { port: number; v3: boolean }): string {
  return `app: tiny
services:
  web:
    command: node server.js
    health:
      path: /healthz
      interval: 100ms
      successes: 1
      deadline: 15s
data:
  folders: [uploads]
${
  o.v3
    ? `migrate:
  command: node migrate.js
  reversible: false
config:
  NOTES_TITLE:
    required: true
    description: the title on the front page
  TINY_TOKEN:
    secret: true
upgrade:
  from: ">=v2"
`
    : ''
}environments:
  production:
    port: ${o.port}
    health_window: 0s
    drain_timeout: 0s
`;
}

const NOTES: Record<string, string> = {
  v1: '- the first tiny release',
  v2: '- counts words in notes',
  v3: '- a title on the front page (set NOTES_TITLE)',
};

export function createTinyAppRepo(dir: string, o: { port: number }): void {
  fs.mkdirSync(dir, { recursive: true });
  const git = (args: string[], env: Record<string, string> = {}) =>
    execFileSync('git', args, { cwd: dir, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', ...env }, encoding: 'utf8' });
  git(['init', '-q', '-b', 'main']);
  git(['config', 'user.name', 'Tiny Fixture']);
  git(['config', 'user.email', 'tiny@example.invalid']);
  git(['config', 'commit.gpgsign', 'false']);
  git(['config', 'tag.gpgsign', 'false']);
  ['v1', 'v2', 'v3'].forEach((version, index) => {
    fs.writeFileSync(path.join(dir, 'server.js'), SERVER(version));
    fs.writeFileSync(path.join(dir, 'slipway.yml'), slipwayYml({ port: o.port, v3: version === 'v3' }));
    fs.mkdirSync(path.join(dir, 'releases'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'releases', `${version}.md`), `${NOTES[version]}\n`);
    if (version === 'v3') fs.writeFileSync(path.join(dir, 'migrate.js'), "console.log('nothing to migrate yet');\n");
    // Fixed, increasing dates: the commits sort the same way as the versions.
    const date = `2025-01-0${index + 1}T12:00:00Z`;
    git(['add', '-A']);
    git(['commit', '-q', '-m', `tiny ${version}`], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
    git(['tag', version]);
  });
}
