import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { createProxy, type ReverseProxy } from '../../src/runtime/proxy.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { waitUntil } from '../helpers/wait-until.js';

interface Upstream {
  port: number;
  version: string;
  /** requests received, by path */
  hits: Map<string, number>;
  /** resolves when a /slow request has arrived */
  slowArrived: Promise<void>;
  /** lets every waiting /slow request answer */
  releaseSlow: () => void;
  close: () => Promise<void>;
}

/** A tiny app release: answers its version, echoes requests, and has a /slow endpoint the test controls. */
async function startUpstream(version: string): Promise<Upstream> {
  const hits = new Map<string, number>();
  let markSlowArrived: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => (markSlowArrived = resolve));
  let releaseSlow: () => void = () => undefined;
  const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));
  let resetOnce = true;

  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(pathname, (hits.get(pathname) ?? 0) + 1);
    if (pathname === '/echo') {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on('end', () => {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('connection', 'keep-alive, x-internal');
        res.setHeader('x-internal', 'hop-by-hop');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ version, method: req.method, url: req.url, headers: req.headers, length, sha256: hash.digest('hex') }));
      });
      return;
    }
    if (pathname === '/slow') {
      markSlowArrived();
      void slowReleased.then(() => res.end(`${version} slow`));
      return;
    }
    if (pathname === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      // The rest is sent only after the client proved it received the first part.
      const url = new URL(req.url ?? '/', 'http://x');
      void waitForSignal(url.searchParams.get('id') ?? '').then(() => res.end('second'));
      return;
    }
    if (pathname === '/reset-first') {
      // Drops the connection without answering the first time, like a stale pooled socket.
      if (resetOnce) {
        resetOnce = false;
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => res.end(`${version} after reset`));
      return;
    }
    res.setHeader('content-type', 'text/plain');
    res.end(version);
  });
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${req.headers.upgrade}\r\nx-version: ${version}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  const port = await listen(server);
  return {
    port,
    version,
    hits,
    slowArrived,
    releaseSlow,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const streamSignals = new Map<string, () => void>();
const streamWaiters = new Map<string, Promise<void>>();
function waitForSignal(id: string): Promise<void> {
  let promise = streamWaiters.get(id);
  if (!promise) {
    promise = new Promise<void>((resolve) => streamSignals.set(id, resolve));
    streamWaiters.set(id, promise);
  }
  return promise;
}
function signal(id: string): void {
  void waitForSignal(id);
  streamSignals.get(id)?.();
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  o: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent | false } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers, agent: o.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

async function setup(t: TestContext, versions: string[]): Promise<{ proxy: ReverseProxy; upstreams: Upstream[] }> {
  const upstreams = await Promise.all(versions.map(startUpstream));
  const proxy = await createProxy({ host: '127.0.0.1', port: 0 });
  t.after(async () => {
    for (const upstream of upstreams) upstream.releaseSlow();
    await proxy.close();
    await Promise.all(upstreams.map((u) => u.close()));
  });
  return { proxy, upstreams };
}

describe('reverse proxy', { timeout: 30_000 }, () => {
  it('forwards method, path, headers and bodies, sets x-forwarded-* and strips hop-by-hop headers', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    await proxy.switchTo(upstreams[0].port);

    const get = await request(proxy.port, {
      path: '/echo?x=1',
      headers: { 'x-custom': 'kept', connection: 'keep-alive, x-hop', 'x-hop': 'dropped', 'keep-alive': 'timeout=5' },
    });
    assert.equal(get.status, 200);
    const seen = JSON.parse(get.body) as { method: string; url: string; headers: Record<string, string>; length: number };
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/echo?x=1');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['x-hop'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${proxy.port}`);
    assert.equal(seen.headers.host, `127.0.0.1:${proxy.port}`);
    assert.deepEqual(get.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(get.headers['x-internal'], undefined, 'a header named in Connection is hop-by-hop');

    const body = randomBytes(1024 * 1024 + 7);
    const post = await request(proxy.port, {
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/octet-stream', 'x-forwarded-for': '203.0.113.9' },
      body,
    });
    const echoed = JSON.parse(post.body) as { method: string; length: number; sha256: string; headers: Record<string, string> };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.length, body.length);
    assert.equal(echoed.sha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(echoed.headers['x-forwarded-for'], '127.0.0.1', 'a client that is no trusted proxy cannot add addresses (proxy-forwarded.test.ts)');
  });

  it('streams a chunked request body and a response body without buffering them', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    await proxy.switchTo(upstreams[0].port);

    // Chunked upload (no content-length), written in pieces.
    const uploaded = await new Promise<{ length: number; sha256: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'PUT', path: '/echo', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(JSON.parse(text) as { length: number; sha256: string }));
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i += 1) req.write(`piece ${i};`);
      req.end();
    });
    const expected = Array.from({ length: 10 }, (_, i) => `piece ${i};`).join('');
    assert.equal(uploaded.length, expected.length);
    assert.equal(uploaded.sha256, createHash('sha256').update(expected).digest('hex'));

    // The upstream sends its second part only after the client has the first: a buffering proxy would hang here.
    const streamed = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: proxy.port, path: '/stream?id=s1', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text === 'first;') signal('s1');
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
    });
    assert.equal(streamed, 'first;second');
  });

  it('switches between releases under load with zero failed requests', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1', 'v2']);
    const [v1, v2] = upstreams;
    await proxy.switchTo(v1.port);

    const total = 2000;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    t.after(() => agent.destroy());
    let issued = 0;
    let switchCalled = false;
    let switching: Promise<unknown> | undefined;
    const failures: string[] = [];
    const seen = new Map<string, number>();
    const seenAfterSwitch = new Map<string, number>();

    const worker = async () => {
      while (issued < total) {
        issued += 1;
        if (issued === total / 2) {
          switching = proxy.switchTo(v2.port, { drainTimeoutMs: 10_000 }).then(async (result) => {
            // What the agent does next: stop the old release while traffic keeps flowing.
            await v1.close();
            return result;
          });
          switchCalled = true;
        }
        const startedAfterSwitch = switchCalled;
        try {
          const answer = await request(proxy.port, { agent });
          if (answer.status !== 200) failures.push(`HTTP ${answer.status}: ${answer.body}`);
          seen.set(answer.body, (seen.get(answer.body) ?? 0) + 1);
          if (startedAfterSwitch) seenAfterSwitch.set(answer.body, (seenAfterSwitch.get(answer.body) ?? 0) + 1);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const result = (await switching) as { previous: number; drained: boolean; inFlightLeft: number };

    assert.deepEqual(failures, []);
    assert.ok((seen.get('v1') ?? 0) > 0, 'v1 answered before the switch');
    assert.ok((seen.get('v2') ?? 0) > 0, 'v2 answered after the switch');
    assert.equal((seen.get('v1') ?? 0) + (seen.get('v2') ?? 0), total);
    assert.deepEqual([...seenAfterSwitch.keys()], ['v2'], 'requests sent after switchTo went to v2 only');
    assert.deepEqual(result, { previous: v1.port, drained: true, inFlightLeft: 0 });
    assert.deepEqual(proxy.target(), { port: v2.port });

    // With v1 gone, the client's keep-alive connections keep working and reach v2.
    for (let i = 0; i < 20; i += 1) assert.equal((await request(proxy.port, { agent })).body, 'v2');
    assert.equal(proxy.stats().errors, 0);
    assert.deepEqual(proxy.stats().targets, [{ port: v2.port, current: true, inFlight: 0 }]);
  });

  it('drains: a slow request on the old release completes, and switchTo resolves after it', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1', 'v2']);
    const [v1, v2] = upstreams;
    await proxy.switchTo(v1.port);

    const events: string[] = [];
    const slow = request(proxy.port, { path: '/slow' });
    await v1.slowArrived;
    const switching = proxy.switchTo(v2.port, { drainTimeoutMs: 20_000 }).then((result) => {
      events.push('switch resolved');
      return result;
    });

    // New requests already go to v2 while v1 drains.
    assert.equal((await request(proxy.port)).body, 'v2');
    assert.equal(events.length, 0, 'switchTo waits for the request in flight');
    assert.deepEqual(
      proxy.stats().targets.find((target) => target.port === v1.port),
      { port: v1.port, current: false, inFlight: 1 },
    );

    events.push('slow released');
    v1.releaseSlow();
    const slowAnswer = await slow;
    assert.equal(slowAnswer.status, 200);
    assert.equal(slowAnswer.body, 'v1 slow');
    assert.deepEqual(await switching, { previous: v1.port, drained: true, inFlightLeft: 0 });
    assert.deepEqual(events, ['slow released', 'switch resolved']);
  });

  it('reports drained=false when the drain timeout passes, and still lets the request finish', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1', 'v2']);
    const [v1, v2] = upstreams;
    await proxy.switchTo(v1.port);

    const slow = request(proxy.port, { path: '/slow' });
    await v1.slowArrived;
    const result = await proxy.switchTo(v2.port, { drainTimeoutMs: 50 });
    assert.deepEqual(result, { previous: v1.port, drained: false, inFlightLeft: 1 });

    v1.releaseSlow();
    assert.equal((await slow).body, 'v1 slow');
    await waitUntil('the old target to be released', () => !proxy.stats().targets.some((target) => target.port === v1.port), 10_000);
  });

  it('switching back to a release that is still draining revives it', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1', 'v2']);
    const [v1, v2] = upstreams;
    await proxy.switchTo(v1.port);
    const slow = request(proxy.port, { path: '/slow' });
    await v1.slowArrived;

    const forward = proxy.switchTo(v2.port, { drainTimeoutMs: 20_000 });
    const back = await proxy.switchTo(v1.port);
    assert.deepEqual(back, { previous: v2.port, drained: true, inFlightLeft: 0 });
    assert.deepEqual(await forward, { previous: v1.port, drained: false, inFlightLeft: 1 });
    assert.equal((await request(proxy.port)).body, 'v1');
    v1.releaseSlow();
    assert.equal((await slow).body, 'v1 slow');
    assert.equal((await request(proxy.port)).body, 'v1', 'the revived target keeps serving after its old requests end');
  });

  it('maintenance refuse answers 503 with Retry-After, as HTML or JSON', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    await proxy.switchTo(upstreams[0].port);

    proxy.setMaintenance({ mode: 'refuse', retryAfterSeconds: 7 });
    assert.deepEqual(proxy.maintenance(), { mode: 'refuse', retryAfterSeconds: 7 });
    const html = await request(proxy.port, { path: '/anything' });
    assert.equal(html.status, 503);
    assert.equal(html.headers['retry-after'], '7');
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.match(html.body, /being updated/);

    const json = await request(proxy.port, { method: 'POST', path: '/echo', headers: { accept: 'application/json' }, body: 'x' });
    assert.equal(json.status, 503);
    assert.deepEqual(JSON.parse(json.body), { error: 'maintenance', retryAfterSeconds: 7 });
    assert.equal(upstreams[0].hits.get('/echo'), undefined, 'refused requests never reach the app');

    proxy.setMaintenance({ mode: 'off' });
    assert.equal((await request(proxy.port)).body, 'v1');
  });

  it('maintenance hold keeps requests until maintenance ends, then sends them to the then-current release', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1', 'v2']);
    const [v1, v2] = upstreams;
    await proxy.switchTo(v1.port);

    proxy.setMaintenance({ mode: 'hold', holdMs: 60_000 });
    const held = request(proxy.port, { method: 'POST', path: '/echo', body: 'written during maintenance' });
    await waitUntil('the request to be held', () => proxy.stats().held === 1, 10_000);
    assert.equal(v1.hits.get('/echo'), undefined);

    await proxy.switchTo(v2.port);
    proxy.setMaintenance({ mode: 'off' });
    const answer = await held;
    assert.equal(answer.status, 200);
    const echoed = JSON.parse(answer.body) as { version: string; length: number };
    assert.equal(echoed.version, 'v2');
    assert.equal(echoed.length, 'written during maintenance'.length);
    assert.equal(proxy.stats().held, 0);
  });

  it('maintenance hold forwards a request anyway once holdMs has passed', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    await proxy.switchTo(upstreams[0].port);
    proxy.setMaintenance({ mode: 'hold', holdMs: 30 });
    const answer = await request(proxy.port);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'v1');
    assert.deepEqual(proxy.maintenance(), { mode: 'hold', holdMs: 30 });
  });

  it('answers 503 when no release is serving and 502 when the release is down', async (t) => {
    const { proxy } = await setup(t, []);
    assert.equal(proxy.target(), null);
    const none = await request(proxy.port);
    assert.equal(none.status, 503);
    assert.deepEqual(JSON.parse(none.body), { error: 'no release is serving' });

    const deadPort = await findFreePort();
    await proxy.switchTo(deadPort);
    const down = await request(proxy.port);
    assert.equal(down.status, 502);
    assert.match(down.body, /ECONNREFUSED/);
    const downPost = await request(proxy.port, { method: 'POST', body: 'x' });
    assert.equal(downPost.status, 502);
    assert.equal(proxy.stats().errors, 2);
  });

  it('retries an idempotent request once when the connection drops before an answer, never a POST', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    const [v1] = upstreams;
    await proxy.switchTo(v1.port);

    const get = await request(proxy.port, { path: '/reset-first' });
    assert.equal(get.status, 200);
    assert.equal(get.body, 'v1 after reset');
    assert.equal(v1.hits.get('/reset-first'), 2);

    // Re-arm the reset with a fresh upstream for the POST case.
    const { proxy: proxy2, upstreams: fresh } = await setup(t, ['v1b']);
    await proxy2.switchTo(fresh[0].port);
    const post = await request(proxy2.port, { method: 'POST', path: '/reset-first', body: 'once only' });
    assert.equal(post.status, 502);
    assert.equal(fresh[0].hits.get('/reset-first'), 1);
  });

  it('proxies a connection upgrade (WebSocket style) as a two-way tunnel', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    await proxy.switchTo(upstreams[0].port);

    const echoed = await new Promise<{ status: number; version: string; data: string }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: proxy.port,
        path: '/socket',
        headers: { connection: 'Upgrade', upgrade: 'echo-protocol' },
        agent: false,
      });
      req.on('upgrade', (res, socket: net.Socket) => {
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          data += chunk;
          if (data === 'ping') {
            resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-version']), data });
            socket.destroy();
          }
        });
        socket.write('ping');
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(echoed, { status: 101, version: 'v1', data: 'ping' });
  });

  it('close() ends idle keep-alive connections and stops listening', async (t) => {
    const { proxy, upstreams } = await setup(t, ['v1']);
    await proxy.switchTo(upstreams[0].port);
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    assert.equal((await request(proxy.port, { agent })).body, 'v1');
    await proxy.close();
    await proxy.close();
    await assert.rejects(request(proxy.port), /ECONNREFUSED|ECONNRESET|socket hang up/);
  });
});
