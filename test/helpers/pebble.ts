/**
 * A real ACME server for tests: Debian's `pebble` (the test server Let's Encrypt publishes)
 * on loopback, with `pebble-challtestsrv` as its DNS server answering 127.0.0.1 for every
 * name, so its HTTP-01 checks reach slipway's proxy on `httpPort`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { freePort } from './free-port.js';
import { selfSigned } from './self-signed.js';
import { tempDir, type AfterHook } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

export interface Pebble {
  /** the ACME directory URL */
  directoryUrl: string;
  /** the CA certificate of pebble's own HTTPS listener (trusted by the ACME client) */
  directoryCa: string;
  /** the root that signs what pebble issues (trusted by the test's HTTPS client) */
  issuerRoot: string;
}

export function hasPebble(): boolean {
  return ['pebble', 'pebble-challtestsrv'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function stopOnExit(t: AfterHook, child: ChildProcess, output: () => string): void {
  t.after(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL' && code !== 0) process.stderr.write(`pebble test server exited (${code ?? signal}):\n${output()}\n`);
  });
}

/** Starts pebble whose HTTP-01 checks go to 127.0.0.1:`httpPort`; stopped when `t` ends. */
export async function startPebble(t: AfterHook, o: { httpPort: number; validitySeconds?: number }): Promise<Pebble> {
  const dir = tempDir(t, 'slipway-pebble-');
  const listener = selfSigned({ dir, label: 'pebble-listener', names: ['127.0.0.1', 'localhost'] });
  const [acmePort, managementPort, tlsPort, dnsPort, dnsManagementPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);

  let dnsOutput = '';
  const dns = spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagementPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  dns.stdout.on('data', (chunk: Buffer) => (dnsOutput += chunk.toString()));
  dns.stderr.on('data', (chunk: Buffer) => (dnsOutput += chunk.toString()));
  stopOnExit(t, dns, () => dnsOutput);

  const config = path.join(dir, 'pebble-config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: listener.certFile,
        privateKey: listener.keyFile,
        httpPort: o.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(o.validitySeconds === undefined ? {} : { certificateValidityPeriod: o.validitySeconds }),
      },
    }),
  );
  let output = '';
  const pebble = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No random sleeps before validation, no nonces refused on purpose, no authorization reused: each order is checked for real.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
  });
  pebble.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  pebble.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  stopOnExit(t, pebble, () => output);

  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  await waitUntil('pebble to answer', async () => (await get(directoryUrl, listener.cert).catch(() => ({ status: 0 }))).status === 200, 20_000, { explain: () => output + dnsOutput });
  const root = await get(`https://127.0.0.1:${managementPort}/roots/0`, listener.cert);
  if (root.status !== 200) throw new Error(`pebble's root: ${root.status} ${root.body}`);
  return { directoryUrl, directoryCa: listener.cert, issuerRoot: root.body };
}
