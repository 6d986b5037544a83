/** slipway.yml `environments.<env>.tls`: automatic certificates or the user's own files, each bad value reported at its line. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem, parseProjectText } from '../../src/config/load.js';
import { renderRemoteHostConfig } from '../../src/remote/host-config.js';

const HEAD = 'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: 8080\n';

function parse(tail: string) {
  return parseProjectText(HEAD + tail, 'slipway.yml');
}

test('domains: defaults to Let\'s Encrypt on 443 with challenges and redirects on 80', () => {
  const result = parse('    tls:\n      domains: [example.com, www.example.com]\n      email: ops@example.com\n');
  assert.deepEqual(result.problems.map(formatProblem), []);
  assert.deepEqual(result.config!.environments[0]!.tls, {
    kind: 'acme',
    domains: ['example.com', 'www.example.com'],
    email: 'ops@example.com',
    acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory',
    port: 443,
    httpPort: 80,
    redirectHttp: true,
  });
  assert.equal(parse('').config!.environments[0]!.tls, undefined);
});

test('cert_file and key_file: a certificate the user manages, on chosen ports', () => {
  const result = parse('    tls: { cert_file: /etc/ssl/site.pem, key_file: /etc/ssl/site.key, port: 8443, http_port: 8080, redirect_http: false }\n');
  assert.deepEqual(result.problems.map(formatProblem), []);
  assert.deepEqual(result.config!.environments[0]!.tls, { kind: 'files', certFile: '/etc/ssl/site.pem', keyFile: '/etc/ssl/site.key', port: 8443, httpPort: 8080, redirectHttp: false });
});

test('bad values are reported at their own line with what is expected', () => {
  const text = [
    '    tls:',
    '      domains:',
    '        - example.com',
    '        - "*.example.com"',
    '        - https://example.com/',
    '        - Example.org',
    '      email: not-an-email',
    '      acme_directory: http://acme.example.com/dir',
    '      port: 70000',
    '      redirect_http: sometimes',
    '',
  ].join('\n');
  const problems = parse(text).problems.map((p) => ({ line: p.line, path: p.path, message: p.message }));
  const at = (path: string) => problems.find((p) => p.path === path);
  assert.equal(at('environments.production.tls.domains[1]')?.line, 11);
  assert.match(at('environments.production.tls.domains[1]')!.message, /wildcard/);
  assert.match(at('environments.production.tls.domains[2]')!.message, /not a domain name: expected one like example.com/);
  assert.match(at('environments.production.tls.domains[3]')!.message, /lowercase, like example.org/);
  assert.equal(at('environments.production.tls.email')?.line, 14);
  assert.match(at('environments.production.tls.email')!.message, /email address/);
  assert.match(at('environments.production.tls.acme_directory')!.message, /https:\/\/ URL of an ACME directory/);
  assert.match(at('environments.production.tls.port')!.message, /from 1 to 65535/);
  assert.match(at('environments.production.tls.redirect_http')!.message, /true or false/);
  assert.equal(problems.length, 7, JSON.stringify(problems, null, 2));
});

test('both kinds, neither, a half pair, or clashing ports are refused', () => {
  const both = parse('    tls: { domains: [example.com], cert_file: a.pem, key_file: a.key }\n').problems;
  assert.equal(both.length, 1);
  assert.match(both[0]!.message, /either `domains`.*or `cert_file` and `key_file`/);
  const neither = parse('    tls: { port: 8443 }\n').problems;
  assert.match(neither[0]!.message, /missing `domains` or `cert_file`\/`key_file`/);
  const half = parse('    tls: { cert_file: a.pem }\n').problems;
  assert.match(half[0]!.message, /missing required key `key_file`/);
  const samePorts = parse('    tls: { domains: [example.com], port: 8443, http_port: 8443 }\n').problems;
  assert.match(samePorts[0]!.message, /http_port 8443 is also the HTTPS port/);
  const envPort = parse('    tls: { domains: [example.com], port: 8080 }\n').problems;
  assert.equal(envPort[0]!.path, 'environments.production.tls.port');
  assert.match(envPort[0]!.message, /also the environment's plain HTTP port/);
  const notMapping = parse('    tls: yes\n').problems;
  assert.match(notMapping[0]!.message, /expected a mapping like \{ domains: \[example.com\]/);
  const unknown = parse('    tls: { domains: [example.com], emial: a@b.c }\n').problems;
  assert.match(unknown[0]!.message, /did you mean `email`/);
});

test('a remote host gets the same tls section in its own project file', () => {
  const result = parseProjectText(
    'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    host: ssh://deploy@app1.example.com\n    port: 8080\n    tls: { domains: [app.example.com], email: ops@example.com, port: 8443, http_port: 8081 }\n',
    'slipway.yml',
  );
  assert.deepEqual(result.problems.map(formatProblem), []);
  const project = result.config!;
  const rendered = renderRemoteHostConfig({ project, environment: project.environments[0]!, host: { name: 'app1', root: '/srv/notes' } });
  const reparsed = parseProjectText(rendered.yaml, 'slipway.yml');
  assert.deepEqual(reparsed.problems.map(formatProblem), []);
  assert.deepEqual(reparsed.config!.environments[0]!.tls, project.environments[0]!.tls);

  const files = parseProjectText(HEAD + '    tls: { cert_file: certs/site.pem, key_file: certs/site.key }\n', 'slipway.yml').config!;
  const renderedFiles = renderRemoteHostConfig({ project: files, environment: files.environments[0]!, host: { name: 'app1', root: '/srv/notes' } });
  assert.deepEqual(parseProjectText(renderedFiles.yaml, 'slipway.yml').config!.environments[0]!.tls, files.environments[0]!.tls);
});

test('several hosts: tls.domains alone is refused at its line; each host names its own domains, rendered into its own file', () => {
  const head = 'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: 8080\n';
  const hosts = (app1: string, app2: string) => `    hosts:\n      app1: { ssh: ssh://deploy@app1.example.com${app1} }\n      app2: { ssh: ssh://deploy@app2.example.com${app2} }\n`;
  const tls = '    tls: { domains: [app.example.com], email: ops@example.com }\n';

  const shared = parseProjectText(head + hosts('', '') + tls, 'slipway.yml').problems;
  assert.equal(shared.length, 1, JSON.stringify(shared, null, 2));
  assert.equal(shared[0]!.path, 'environments.production.tls.domains');
  assert.equal(shared[0]!.line, 11);
  assert.match(formatProblem(shared[0]!), /^slipway\.yml:11:\d+: .*with 2 hosts, each host's agent would order its own certificate for app\.example\.com.*fails on all but one.*hosts\.<name>\.domains \(missing on app1, app2/);

  // One host without a domain of its own: only it is named.
  const half = parseProjectText(head + hosts(', domains: [app1.example.com]', '') + tls, 'slipway.yml').problems;
  assert.match(half[0]!.message, /missing on app2;/);

  // A name on two hosts is the same round robin, said at the second one.
  const twice = parseProjectText(head + hosts(', domains: [app.example.com]', ', domains: [app.example.com]') + tls, 'slipway.yml').problems;
  assert.equal(twice.length, 1);
  assert.equal(twice[0]!.path, 'environments.production.hosts.app2.domains[0]');
  assert.match(twice[0]!.message, /app\.example\.com is also a domain of host app1/);

  // Host domains without automatic certificates say what is missing.
  const orphan = parseProjectText(head + hosts(', domains: [app1.example.com]', ', domains: []'), 'slipway.yml').problems;
  assert.deepEqual(orphan.map((p) => p.path), ['environments.production.hosts.app1.domains', 'environments.production.hosts.app2.domains']);
  assert.match(orphan[0]!.message, /needs `tls: \{ domains: \[\.\.\.\] \}`/);

  // Each host its own names: each host's file has them; a host with [] serves no HTTPS.
  const own = parseProjectText(head + hosts(', domains: [app1.example.com, www.example.com]', ', domains: []') + tls, 'slipway.yml');
  assert.deepEqual(own.problems.map(formatProblem), []);
  const project = own.config!;
  const environment = project.environments[0]!;
  const app1 = parseProjectText(renderRemoteHostConfig({ project, environment, host: { name: 'app1', root: '/srv/notes' } }).yaml, 'slipway.yml');
  assert.deepEqual(app1.problems.map(formatProblem), []);
  assert.deepEqual(app1.config!.environments[0]!.tls, { ...environment.tls, domains: ['app1.example.com', 'www.example.com'] });
  const app2 = parseProjectText(renderRemoteHostConfig({ project, environment, host: { name: 'app2', root: '/srv/notes' } }).yaml, 'slipway.yml');
  assert.equal(app2.config!.environments[0]!.tls, undefined);

  // One host in `hosts:`, or a user's certificate files on several hosts: nothing to say.
  assert.deepEqual(parseProjectText(head + '    hosts:\n      app1: { ssh: ssh://deploy@app1.example.com }\n' + tls, 'slipway.yml').problems.map(formatProblem), []);
  assert.deepEqual(parseProjectText(head + hosts('', '') + '    tls: { cert_file: certs/site.pem, key_file: certs/site.key }\n', 'slipway.yml').problems.map(formatProblem), []);
});
