// The proxy's connections to the app, with real sockets: an informational answer (103 Early
// Hints) before the real one is not passed on and does not break the answer; a slow client
// holds back a large answer instead of the proxy buffering it (backpressure); a client that
// goes away mid-answer stops the app's work; an app that answers with keep-alive connections
// it closes soon after does not make the next request fail.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { it, type TestContext } from 'node:test';
import { createProxy, type ReverseProxy } from '../../src/runtime/proxy.js';
import { freePort } from '../helpers/free-port.js';
import { waitUntil } from '../helpers/wait-until.js';

async function listen(t: TestContext, handler: http.RequestListener, options: http.ServerOptions = {}): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer(options, handler);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port, server };
}

async function proxyTo(t: TestContext, appPort: number): Promise<{ proxy: ReverseProxy; port: number }> {
  const port = await freePort();
  const proxy = await createProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  await proxy.switchTo(appPort);
  return { proxy, port };
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string; informational: number[] }> {
  return new Promise((resolve, reject) => {
    const informational: number[] = [];
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, informational }));
    });
    req.on('information', (info) => informational.push(info.statusCode));
    req.on('error', reject);
    req.end();
  });
}

it('an informational answer (103 Early Hints) before the real one: the client gets the real one, whole', async (t) => {
  const app = await listen(t, (_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.end('after hints');
  });
  const { port, proxy } = await proxyTo(t, app.port);
  const answer = await get(port, '/');
  assert.equal(answer.status, 200);
  assert.equal(answer.body, 'after hints');
  assert.deepEqual(answer.informational, [], 'the hint stops at the proxy');
  assert.equal(proxy.stats().errors, 0);
});

it('a slow client holds the app back (backpressure) and gets every byte', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  // 64 MiB: loopback sockets grow their buffers to several MiB each, and two hops hold four
  // of them; a proxy without backpressure would take it all, one with it stops far short.
  const chunks = 1024;
  let written = 0;
  const app = await listen(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(chunk.length * chunks) });
    const pump = () => {
      while (written < chunks) {
        written += 1;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const { port } = await proxyTo(t, app.port);
  let received = 0;
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, resolve).on('error', reject));
  response.pause();
  // Nothing is read for a while: the app must stop well short of the whole answer.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(written < chunks / 2, `the app wrote ${written} of ${chunks} chunks while the client read nothing`);
  await new Promise<void>((resolve) => {
    response.on('data', (data: Buffer) => (received += data.length));
    response.on('end', () => resolve());
    response.resume();
  });
  assert.equal(received, chunk.length * chunks);
});

it('a client gone mid-answer stops the request to the app', async (t) => {
  let appSideClosed = false;
  const app = await listen(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started;');
    req.socket.once('close', () => (appSideClosed = true));
    // never ends on its own
  });
  const { port, proxy } = await proxyTo(t, app.port);
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => res.once('data', () => resolve(req.socket!)));
    req.on('error', reject);
  });
  socket.destroy();
  await waitUntil('the app-side connection to close', () => appSideClosed, 5_000);
  await waitUntil('nothing in flight at the proxy', () => proxy.stats().targets.every((target) => target.inFlight === 0), 5_000);
});

it("an app whose keep-alive connections close soon after each answer: the next requests, POSTs included, all succeed", async (t) => {
  const app = await listen(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end(`${req.method} ok`));
  });
  // Shorter than the proxy's own idle time for a pooled connection would be without the app's hint.
  app.server.keepAliveTimeout = 300;
  const { port, proxy } = await proxyTo(t, app.port);
  for (let i = 0; i < 6; i++) {
    const method = i % 2 === 0 ? 'GET' : 'POST';
    const answer = await get(port, '/', method);
    assert.equal(answer.status, 200, `request ${i} (${method}): ${answer.body}`);
    assert.equal(answer.body, `${method} ok`);
    // Around the app's keep-alive: the connection it closed must not be used again.
    await new Promise((resolve) => setTimeout(resolve, 250 + (i % 3) * 60));
  }
  assert.equal(proxy.stats().errors, 0);
});
