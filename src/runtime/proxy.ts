import http from 'node:http';
import type net from 'node:net';
import { pipeline } from 'node:stream';
import { SlipwayError } from '../errors.js';

/**
 * slipway's own HTTP reverse proxy: the public port of an environment. It forwards every request to
 * the release slot that is current *when the request arrives*, so a switch is atomic for new requests
 * while requests already in flight finish on the slot they started on.
 */

export interface ProxyOptions {
  host: string;
  /** 0 lets the OS pick a port (tests); read it back from `proxy.port` */
  port: number;
  /** where the release slots listen; default 127.0.0.1 */
  upstreamHost?: string;
}

export type MaintenanceMode =
  | { mode: 'off' }
  /** answer 503 with Retry-After (default 30 s) */
  | { mode: 'refuse'; retryAfterSeconds?: number; writesOnly?: boolean }
  /** keep each request waiting until maintenance is off, at most holdMs; then forward it anyway */
  | {
      mode: 'hold';
      holdMs: number;
      /** reads (GET, HEAD, OPTIONS) pass; only writes wait */
      writesOnly?: boolean;
      /** what a request that waited holdMs gets: forwarded (default), or 503 so that it cannot land on data about to be replaced */
      afterHold?: 'forward' | 'refuse';
    };

export interface SwitchResult {
  /** port of the target that was serving before, null when none was */
  previous: number | null;
  /** true when every request in flight on the previous target finished within the drain timeout */
  drained: boolean;
  /** requests still running on the previous target when switchTo resolved */
  inFlightLeft: number;
}

export interface ProxyStats {
  /** requests received since the proxy started */
  requests: number;
  /** requests answered 502 or cut off because the upstream failed */
  errors: number;
  /** requests being handled now (held ones included) */
  inFlight: number;
  /** requests waiting for maintenance to end */
  held: number;
  /** upgraded (WebSocket) connections open now; they are not waited for when draining */
  upgraded: number;
  /** targets with requests or connections: the current one and any still draining */
  targets: { port: number; current: boolean; inFlight: number }[];
}

export interface ReverseProxy {
  readonly port: number;
  target(): { port: number } | null;
  /**
   * Sends new requests to `port` at once; requests already in flight to the old target finish there.
   * Resolves when the old target has none left or `drainTimeoutMs` (default 30 s) passed.
   */
  switchTo(port: number, o?: { drainTimeoutMs?: number }): Promise<SwitchResult>;
  /** stops sending new requests anywhere (503 until the next switchTo); in-flight ones finish */
  clearTarget(): void;
  setMaintenance(m: MaintenanceMode): void;
  maintenance(): MaintenanceMode;
  stats(): ProxyStats;
  /** stops listening, ends every connection and tunnel; safe to call more than once */
  close(): Promise<void>;
}
/** The name the runtime design uses; `ReverseProxy` avoids shadowing the global `Proxy` elsewhere. */
export type Proxy = ReverseProxy;

export async function createProxy(o: ProxyOptions): Promise<ReverseProxy> {
  const proxy = new SlipwayProxy(o.upstreamHost ?? '127.0.0.1');
  await proxy.listen(o.host, o.port);
  return proxy;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
const DEFAULT_RETRY_AFTER_SECONDS = 30;
/** RFC 9110 §7.6.1, plus proxy-connection which old clients still send */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** connection failures that happen before the upstream wrote anything, typically a stale pooled socket */
const RETRYABLE_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

/** repeated headers (set-cookie) stay arrays; single ones are strings, as Node requires for e.g. host */
type Headers = Record<string, string | string[]>;

/** One upstream port, with its own connection pool and count of requests in flight. */
class Target {
  readonly agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  inFlight = 0;
  retired = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    readonly port: number,
    private readonly onIdleWhileRetired: (target: Target) => void,
  ) {}

  /** Counts one request in; the returned function counts it out (calling it twice is harmless). */
  acquire(): () => void {
    this.inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight -= 1;
      if (this.inFlight === 0) this.wakeIdleWaiters();
    };
  }

  /** Resolves true when nothing is in flight, false after `timeoutMs` or when the target serves again. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve(this.inFlight === 0 && this.retired);
      };
      const timer = setTimeout(wake, timeoutMs);
      this.idleWaiters.add(wake);
    });
  }

  revive(): void {
    this.retired = false;
    this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    for (const wake of [...this.idleWaiters]) wake();
    if (this.retired && this.inFlight === 0) this.onIdleWhileRetired(this);
  }
}

class SlipwayProxy implements ReverseProxy {
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly tunnels = new Set<net.Socket>();
  private readonly targets = new Map<number, Target>();
  private readonly maintenanceListeners = new Set<() => void>();
  private current: Target | null = null;
  private mode: MaintenanceMode = { mode: 'off' };
  private listeningPort = 0;
  private closing: Promise<void> | undefined;
  private counters = { requests: 0, errors: 0, inFlight: 0, held: 0 };

  constructor(private readonly upstreamHost: string) {
    // No request timeout: uploads and long requests belong to the app; headersTimeout still guards slow clients.
    this.server = http.createServer({ requestTimeout: 0 });
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  get port(): number {
    return this.listeningPort;
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'EADDRINUSE' || error.code === 'EACCES'
            ? new SlipwayError('PROXY_PORT_UNAVAILABLE', `slipway's proxy cannot listen on ${host}:${port} (${error.code}).`, {
                hint: 'Stop whatever uses that port, or choose another port for this environment in slipway.yml.',
                cause: error,
              })
            : error,
        );
      };
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        // Later server errors (e.g. EMFILE on accept) must not crash the agent; connections already open carry on.
        this.server.on('error', () => undefined);
        const address = this.server.address();
        this.listeningPort = typeof address === 'object' && address ? address.port : port;
        resolve();
      });
    });
  }

  target(): { port: number } | null {
    return this.current ? { port: this.current.port } : null;
  }

  clearTarget(): void {
    const previous = this.current;
    if (!previous) return;
    this.current = null;
    previous.retired = true;
    if (previous.inFlight === 0) this.dispose(previous);
  }

  async switchTo(port: number, o: { drainTimeoutMs?: number } = {}): Promise<SwitchResult> {
    const previous = this.current;
    if (previous?.port === port) return { previous: port, drained: true, inFlightLeft: 0 };
    let next = this.targets.get(port);
    if (next) next.revive();
    else {
      next = new Target(port, (target) => this.dispose(target));
      this.targets.set(port, next);
    }
    this.current = next;
    if (!previous) return { previous: null, drained: true, inFlightLeft: 0 };

    previous.retired = true;
    const drained = await previous.waitIdle(o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    // A target still busy after the timeout is disposed of when its last request ends (see Target).
    if (previous.retired && previous.inFlight === 0) this.dispose(previous);
    return { previous: previous.port, drained, inFlightLeft: previous.inFlight };
  }

  setMaintenance(m: MaintenanceMode): void {
    this.mode = { ...m };
    for (const listener of [...this.maintenanceListeners]) listener();
  }

  maintenance(): MaintenanceMode {
    return { ...this.mode };
  }

  stats(): ProxyStats {
    return {
      ...this.counters,
      upgraded: this.tunnels.size,
      targets: [...this.targets.values()].map((t) => ({ port: t.port, current: t === this.current, inFlight: t.inFlight })),
    };
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
      for (const socket of this.tunnels) socket.destroy();
      for (const target of this.targets.values()) target.agent.destroy();
      this.targets.clear();
      this.current = null;
    });
    return this.closing;
  }

  private dispose(target: Target): void {
    if (this.targets.get(target.port) !== target || this.current === target) return;
    this.targets.delete(target.port);
    target.agent.destroy();
  }

  // ---- plain HTTP ----------------------------------------------------------

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.counters.requests += 1;
    this.counters.inFlight += 1;
    res.once('close', () => (this.counters.inFlight -= 1));
    req.on('error', () => undefined); // a client that goes away mid-body; the response side handles it
    this.passMaintenance({
      method: req.method ?? 'GET',
      arrivedAt: performance.now(),
      onGone: (listener) => {
        res.once('close', listener);
        return () => res.off('close', listener);
      },
      isGone: () => res.destroyed || res.writableEnded,
      proceed: () => this.forward(req, res, 0),
      refuse: (retryAfter) => sendRefusal(req, res, retryAfter),
    });
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, attempt: number): void {
    const target = this.current;
    if (!target) {
      sendText(res, 503, JSON.stringify({ error: 'no release is serving' }) + '\n', 'application/json');
      return;
    }
    const release = target.acquire();
    const hasBody = requestHasBody(req);
    const upstream = http.request({
      host: this.upstreamHost,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: forwardedRequestHeaders(req, false),
      agent: target.agent,
    });
    let upstreamResponded = false;
    let upstreamDone = false;

    const onClientClose = () => {
      release();
      // The client went away before the answer was complete: stop the work upstream too.
      if (!upstreamDone) upstream.destroy();
    };
    res.once('close', onClientClose);

    upstream.once('response', (upRes) => {
      upstreamResponded = true;
      upRes.once('end', () => (upstreamDone = true));
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, filterHeaders(upRes.rawHeaders, upRes.headers.connection, false));
      pipeline(upRes, res, (error) => {
        if (error && upRes.errored) this.counters.errors += 1;
      });
    });

    upstream.on('error', (error: NodeJS.ErrnoException) => {
      // After the answer started, a failure shows up on the response stream and is counted by its pipeline.
      if (upstreamResponded || res.destroyed) return;
      const retryable =
        attempt === 0 && !hasBody && RETRYABLE_METHODS.has(req.method ?? '') && RETRYABLE_ERRORS.has(error.code ?? '');
      if (retryable) {
        res.off('close', onClientClose);
        release();
        this.forward(req, res, attempt + 1);
        return;
      }
      this.counters.errors += 1;
      req.unpipe(upstream);
      if (!res.headersSent) {
        res.setHeader('connection', 'close');
        sendText(res, 502, `Bad gateway: the application did not answer (${error.code ?? error.message}).\n`, 'text/plain; charset=utf-8');
      } else res.destroy();
    });

    if (hasBody) req.pipe(upstream);
    else upstream.end();
  }

  // ---- upgrade (WebSocket) -------------------------------------------------

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.counters.requests += 1;
    socket.on('error', () => socket.destroy());
    let gone = false;
    socket.once('close', () => (gone = true));
    this.passMaintenance({
      method: req.method ?? 'GET',
      arrivedAt: performance.now(),
      onGone: (listener) => {
        socket.once('close', listener);
        return () => socket.off('close', listener);
      },
      isGone: () => gone,
      proceed: () => this.forwardUpgrade(req, socket, head),
      refuse: (retryAfter) =>
        writeRawResponse(socket, 503, { 'retry-after': String(retryAfter), 'content-type': 'text/plain; charset=utf-8' }, 'Down for maintenance.\n'),
    });
  }

  private forwardUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const target = this.current;
    if (!target) {
      writeRawResponse(socket, 503, { 'content-type': 'application/json' }, JSON.stringify({ error: 'no release is serving' }) + '\n');
      return;
    }
    const upstream = http.request({
      host: this.upstreamHost,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: forwardedRequestHeaders(req, true),
      agent: false,
    });
    socket.once('close', () => upstream.destroy());
    upstream.once('upgrade', (upRes, upSocket: net.Socket, upHead: Buffer) => {
      if (socket.destroyed) {
        upSocket.destroy();
        return;
      }
      socket.write(statusLine(upRes.statusCode ?? 101, upRes.statusMessage) + rawHeaderLines(upRes.rawHeaders) + '\r\n');
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      this.tunnels.add(socket);
      const closeBoth = () => {
        this.tunnels.delete(socket);
        socket.destroy();
        upSocket.destroy();
      };
      upSocket.on('error', closeBoth).once('close', closeBoth);
      socket.on('error', closeBoth).once('close', closeBoth);
      socket.pipe(upSocket).pipe(socket);
    });
    upstream.once('response', (upRes) => {
      // The app declined the upgrade: relay its answer, then close (the raw socket has no HTTP framing left).
      const headers = filterHeaders(upRes.rawHeaders, upRes.headers.connection, false);
      delete headers['content-length'];
      socket.write(statusLine(upRes.statusCode ?? 502, upRes.statusMessage) + headerLines(headers) + 'connection: close\r\n\r\n');
      upRes.pipe(socket);
    });
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (socket.destroyed) return;
      this.counters.errors += 1;
      writeRawResponse(socket, 502, { 'content-type': 'text/plain; charset=utf-8' }, `Bad gateway: the application did not answer (${error.code ?? error.message}).\n`);
    });
    upstream.end();
  }

  // ---- maintenance -----------------------------------------------------------

  /** Applies the maintenance mode to one request, re-checking whenever the mode changes while it is held. */
  private passMaintenance(o: {
    method: string;
    arrivedAt: number;
    /** registers a listener for the client going away; returns its removal */
    onGone: (listener: () => void) => () => void;
    isGone: () => boolean;
    proceed: () => void;
    refuse: (retryAfterSeconds: number) => void;
  }): void {
    if (o.isGone()) return;
    const m = this.mode;
    if (m.mode !== 'off' && m.writesOnly && RETRYABLE_METHODS.has(o.method)) return o.proceed();
    if (m.mode === 'refuse') return o.refuse(m.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
    // Timers may fire a fraction of a millisecond early: under 1 ms left counts as elapsed.
    const waitMs = m.mode === 'hold' ? Math.ceil(o.arrivedAt + m.holdMs - performance.now()) : 0;
    if (waitMs < 1) return m.mode === 'hold' && m.afterHold === 'refuse' ? o.refuse(DEFAULT_RETRY_AFTER_SECONDS) : o.proceed();

    this.counters.held += 1;
    let settled = false;
    const settle = (again: boolean) => {
      if (settled) return;
      settled = true;
      this.counters.held -= 1;
      clearTimeout(timer);
      this.maintenanceListeners.delete(onChange);
      stopWatchingClient();
      if (again) this.passMaintenance(o);
    };
    const onChange = () => settle(true);
    const timer = setTimeout(onChange, waitMs);
    this.maintenanceListeners.add(onChange);
    const stopWatchingClient = o.onGone(() => settle(false));
  }
}

function requestHasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Header names listed in a Connection header are hop-by-hop too. */
function connectionTokens(connection: string | string[] | undefined): Set<string> {
  const value = Array.isArray(connection) ? connection.join(',') : connection ?? '';
  return new Set(
    value
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Groups raw headers by lower-cased name (keeping repeated ones, e.g. set-cookie) and drops hop-by-hop ones. */
function filterHeaders(rawHeaders: string[], connection: string | string[] | undefined, keepUpgrade: boolean): Headers {
  const dropped = connectionTokens(connection);
  const headers: Headers = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const upgradeHeader = name === 'connection' || name === 'upgrade';
    if (!(keepUpgrade && upgradeHeader) && (HOP_BY_HOP.has(name) || dropped.has(name))) continue;
    const value = rawHeaders[i + 1];
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return headers;
}

function forwardedRequestHeaders(req: http.IncomingMessage, upgrade: boolean): Headers {
  const headers = filterHeaders(req.rawHeaders, req.headers.connection, upgrade);
  // slipway already answered "100 Continue" to the client; the app must not be asked again.
  delete headers['expect'];
  // The body is re-framed as chunked; Node does that by itself for POST-like methods but not for GET/DELETE.
  if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  const clientAddress = req.socket.remoteAddress ?? '';
  const forwardedFor = [headers['x-forwarded-for'] ?? []].flat().join(', ');
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${clientAddress}` : clientAddress;
  // Kept when an outer proxy (a TLS terminator) already set them.
  headers['x-forwarded-proto'] ??= 'http';
  if (req.headers.host) headers['x-forwarded-host'] ??= req.headers.host;
  return headers;
}

function sendText(res: http.ServerResponse, status: number, body: string, contentType: string, extra: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, {
    ...extra,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

function sendRefusal(req: http.IncomingMessage, res: http.ServerResponse, retryAfterSeconds: number): void {
  const extra = { 'retry-after': String(retryAfterSeconds) };
  if ((req.headers.accept ?? '').includes('application/json')) {
    sendText(res, 503, JSON.stringify({ error: 'maintenance', retryAfterSeconds }) + '\n', 'application/json', extra);
    return;
  }
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>Back in a moment</title></head>' +
    '<body style="font-family:sans-serif;max-width:32em;margin:4em auto">' +
    '<h1>Back in a moment</h1><p>This site is being updated. Please try again shortly.</p></body></html>\n';
  sendText(res, 503, html, 'text/html; charset=utf-8', extra);
}

function statusLine(status: number, message: string | undefined): string {
  return `HTTP/1.1 ${status} ${message || http.STATUS_CODES[status] || ''}\r\n`;
}

function rawHeaderLines(rawHeaders: string[]): string {
  let out = '';
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) out += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return out;
}

function headerLines(headers: Headers): string {
  let out = '';
  for (const [name, values] of Object.entries(headers)) for (const value of [values].flat()) out += `${name}: ${value}\r\n`;
  return out;
}

function writeRawResponse(socket: net.Socket, status: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed) return;
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`${statusLine(status, undefined)}${lines}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
