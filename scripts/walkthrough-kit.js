// What the walkthrough scripts share: their work folder, the page they write (and print),
// free ports, plain HTTP requests to the app, the CLI run without blocking (their S3 server
// answers from the same process), and that S3-compatible server (s3rver, the one the tests use).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cliPath = path.join(root, 'bin', 'slipway.js');

/** A walkthrough's temp folder (the app's repo and SLIPWAY_HOME in it) and its page. */
export function startWalkthrough() {
  const work = mkdtempSync(path.join(os.tmpdir(), 'slipway-walkthrough-'));
  const out = [];
  /** The page shows paths as a reader would have them, not this run's temp folder. */
  const tidy = (text) => text.split(work).join('~').replace(/\x1b\[[0-9;]*m/g, '');
  return {
    work,
    appDir: path.join(work, 'notes'),
    home: path.join(work, 'slipway-home'),
    tidy,
    say(text = '') {
      console.log(text);
      out.push(text);
    },
    /** Writes the page to docs/<name>.md, or to WALKTHROUGH_OUT (the test that runs this in CI keeps docs/ as it is). */
    writePage(name) {
      const file = process.env.WALKTHROUGH_OUT ?? path.join(root, 'docs', `${name}.md`);
      writeFileSync(file, `${out.join('\n')}\n`);
      console.log(`\nwritten: ${process.env.WALKTHROUGH_OUT ?? `docs/${name}.md`}`);
    },
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One request to the app on 127.0.0.1:port: its status (0 when it failed), body and time; never rejects. */
export function request(port, method, urlPath, body, timeoutMs = 30_000) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: body ? { 'content-type': 'application/json' } : {}, timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode, body: text, ms: performance.now() - started }));
    });
    req.on('error', (error) => resolve({ status: 0, body: error.message, ms: performance.now() - started }));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

/**
 * Runs the CLI without blocking this process: its exit status, its stdout, and stdout and stderr as they came.
 * `input`, when given, is its stdin (a secret that must not be in argv).
 */
export async function runCli(args, { cwd, env, input }) {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin.end(input);
  let stdout = '';
  let both = '';
  child.stdout.setEncoding('utf8').on('data', (c) => {
    stdout += c;
    both += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c) => (both += c));
  const status = await new Promise((resolve) => child.on('close', resolve));
  return { status, stdout, both };
}

/** A command line as a reader would type it. */
export const shownCommand = (args) => `$ slipway ${args.map((a) => (/[\s;]/.test(a) ? `'${a}'` : a)).join(' ')}`;

/** s3rver on a free loopback port, with the bucket made. */
export async function startS3(directory, bucket) {
  const S3rver = createRequire(import.meta.url)('s3rver');
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = await s3.run();
  return { s3, endpoint: `http://127.0.0.1:${port}` };
}
