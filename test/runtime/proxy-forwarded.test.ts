// The proxy tells the app the truth about its client: a real proxy in front of a real
// upstream that echoes the headers it got. A client may not forge X-Forwarded-For/Proto/Host
// (nor Forwarded, X-Real-IP); a proxy in `trusted_proxies` may. Loopback has every 127.x
// address, so one machine plays both: 127.0.0.1 is an ordinary client, 127.0.0.2 the
// trusted TLS terminator.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { createProxy, type ReverseProxy } from '../../src/runtime/proxy.js';

const FORGED = {
  'x-forwarded-for': '203.0.113.9',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'bank.example.com',
  forwarded: 'for=203.0.113.9;proto=https',
  'x-real-ip': '203.0.113.9',
};

/** An app that answers the headers it received, on plain requests and on upgrades. */
async function startEchoUpstream(t: TestContext): Promise<number> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  });
  server.on('upgrade', (req, socket: net.Socket) => {
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n${JSON.stringify(req.headers)}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return (server.address() as net.AddressInfo).port;
}

async function startProxy(t: TestContext, trustedProxies?: string[]): Promise<ReverseProxy> {
  const upstream = await startEchoUpstream(t);
  const proxy = await createProxy({ host: '127.0.0.1', port: 0, ...(trustedProxies ? { trustedProxies } : {}) });
  t.after(() => proxy.close());
  await proxy.switchTo(upstream);
  return proxy;
}

/** The headers the app saw for one request from `from`. */
function seenByApp(proxy: ReverseProxy, o: { from: string; headers: Record<string, string> }): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/', localAddress: o.from, headers: o.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The headers the app saw on an upgrade request from `from`. */
function seenOnUpgrade(proxy: ReverseProxy, o: { from: string; headers: Record<string, string> }): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: proxy.port,
      path: '/',
      localAddress: o.from,
      headers: { ...o.headers, connection: 'upgrade', upgrade: 'echo' },
      agent: false,
    });
    req.on('upgrade', (_res, socket: net.Socket, head: Buffer) => {
      let body = head.toString('utf8');
      socket.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      socket.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('forwarded headers', { timeout: 30_000 }, () => {
  it('from a client that is no trusted proxy, forged X-Forwarded-*, Forwarded and X-Real-IP are replaced by the truth', async (t) => {
    const proxy = await startProxy(t);
    for (const see of [seenByApp, seenOnUpgrade]) {
      const seen = await see(proxy, { from: '127.0.0.1', headers: FORGED });
      assert.equal(seen['x-forwarded-for'], '127.0.0.1', `${see.name}: the connection's address only`);
      assert.equal(seen['x-forwarded-proto'], 'http', `${see.name}: slipway serves plain HTTP`);
      assert.equal(seen['x-forwarded-host'], `127.0.0.1:${proxy.port}`, `${see.name}: the Host header`);
      assert.equal(seen.forwarded, undefined, see.name);
      assert.equal(seen['x-real-ip'], undefined, see.name);
    }
  });

  it('a trusted proxy’s headers are kept, with the connection’s address appended; others on the same proxy are still replaced', async (t) => {
    const proxy = await startProxy(t, ['127.0.0.2/32']);
    for (const see of [seenByApp, seenOnUpgrade]) {
      const trusted = await see(proxy, { from: '127.0.0.2', headers: FORGED });
      assert.equal(trusted['x-forwarded-for'], '203.0.113.9, 127.0.0.2', see.name);
      assert.equal(trusted['x-forwarded-proto'], 'https', see.name);
      assert.equal(trusted['x-forwarded-host'], 'bank.example.com', see.name);
      assert.equal(trusted.forwarded, FORGED.forwarded, see.name);
      assert.equal(trusted['x-real-ip'], FORGED['x-real-ip'], see.name);

      const untrusted = await see(proxy, { from: '127.0.0.1', headers: FORGED });
      assert.equal(untrusted['x-forwarded-for'], '127.0.0.1', see.name);
      assert.equal(untrusted['x-forwarded-proto'], 'http', see.name);
      assert.equal(untrusted['x-forwarded-host'], `127.0.0.1:${proxy.port}`, see.name);
    }
  });

  it('a trusted proxy that sends none gets them set as for anyone', async (t) => {
    const proxy = await startProxy(t, ['127.0.0.2']);
    const seen = await seenByApp(proxy, { from: '127.0.0.2', headers: {} });
    assert.equal(seen['x-forwarded-for'], '127.0.0.2');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], `127.0.0.1:${proxy.port}`);
  });
});
