/**
 * Holding writes stops new ones; a write already at the app may still commit after a backup's
 * snapshot starts. The update waits for those answers before it snapshots or restores.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createProxy } from '../../src/runtime/proxy.js';

test('writesSettled waits for a write let through before the hold, and not for reads or held writes', async (t) => {
  let release: () => void = () => {};
  const app = http.createServer((req, res) => {
    if (req.method === 'POST') {
      release = () => res.end('written');
      return;
    }
    res.end('read');
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const proxy = await createProxy({ host: '127.0.0.1', port: 0 });
  t.after(async () => {
    await proxy.close();
    await new Promise((resolve) => app.close(resolve));
  });
  await proxy.switchTo((app.address() as AddressInfo).port);
  const agent = new http.Agent({ keepAlive: false });
  const send = (method: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, method, path: '/', agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });

  assert.equal(await proxy.writesSettled(1000), true, 'nothing in flight');
  const write = send('POST');
  // the write reaches the app (it holds its answer)
  for (let i = 0; i < 100 && proxy.stats().inFlight === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  proxy.setMaintenance({ mode: 'hold', holdMs: 60_000, afterHold: 'refuse', writesOnly: true });
  assert.equal(await proxy.writesSettled(200), false, 'the write at the app is not answered yet');
  assert.equal(await send('GET'), 'read', 'reads still pass');
  const heldWrite = send('POST'); // held at the gate: not counted
  const settled = proxy.writesSettled(5000);
  release();
  assert.equal(await write, 'written');
  assert.equal(await settled, true, 'settled once the write in flight was answered, though another write is held');
  proxy.setMaintenance({ mode: 'off' });
  await new Promise((r) => setTimeout(r, 50));
  release();
  assert.equal(await heldWrite, 'written');
});
