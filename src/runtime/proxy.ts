import http from 'node:http';
import type http2 from 'node:http2';
import net from 'node:net';
import { createTlsServer, plainListener, type PlainListener, type ProxyTlsOptions } from './proxy-tls.js';
import { SlipwayError } from '../errors.js';
import { addressMatcher } from '../util/ip-range.js';
import { sendRefusal, writeRawResponse } from './proxy-answers.js';
import { forwardRequest, forwardUpgrade, type ForwardingProxy } from './proxy-forward.js';
import { answerGone, type ClientRequest, type ClientResponse } from './proxy-http.js';
import { MaintenanceGate, type MaintenanceMode } from './proxy-maintenance.js';
import { Target } from './proxy-target.js';

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
  /**
   * addresses and CIDR ranges (slipway.yml `trusted_proxies`) whose X-Forwarded-* headers are
   * kept; from anyone else they are replaced (proxy-http.ts). Default: none.
   */
  trustedProxies?: readonly string[];
  /** HTTPS on its own port, and a plain port for certificate challenges and redirects (proxy-tls.ts) */
  tls?: ProxyTlsOptions;
}

export type { MaintenanceMode } from './proxy-maintenance.js';

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
  /** the address the environment's own port listens on (loopback with TLS on, unless it is the challenge port) */
  readonly host: string;
  /** the HTTPS port, null without TLS */
  readonly httpsPort: number | null;
  /** the plain port answering certificate challenges (and redirecting), null without TLS */
  readonly challengePort: number | null;
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
  /** resolves once every write already let through has been answered (true), or after timeoutMs (false) */
  writesSettled(timeoutMs: number): Promise<boolean>;
  stats(): ProxyStats;
  /** stops listening, ends every connection and tunnel; safe to call more than once */
  close(): Promise<void>;
}
/** The name the runtime design uses; `ReverseProxy` avoids shadowing the global `Proxy` elsewhere. */
export type Proxy = ReverseProxy;

export async function createProxy(o: ProxyOptions): Promise<ReverseProxy> {
  const proxy = new SlipwayProxy(o.upstreamHost ?? '127.0.0.1', addressMatcher(o.trustedProxies ?? []), o.tls);
  try {
    await proxy.listen(o.host, o.port);
  } catch (error) {
    await proxy.close();
    throw error;
  }
  return proxy;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** how long close() lets HTTP/2 streams already open finish before it cuts their connections */
const HTTP2_CLOSE_GRACE_MS = 5_000;

type ListenerRole = 'app' | 'https' | 'challenges';
interface Handlers {
  request(req: ClientRequest, res: ClientResponse): void;
  upgrade: PlainListener['upgrade'];
}

/** Listens on host:port and resolves with the port bound (the OS's pick for 0). */
/** The loopback address of the same family as `host` (itself when it is one already). */
function loopbackOf(host: string): string {
  if (host === '::1' || host === 'localhost' || /^127\./.test(host)) return host;
  return net.isIPv6(host) || host === '::' ? '::1' : '127.0.0.1';
}

function listenOn(server: net.Server, host: string, port: number): Promise<number> {
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
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      // Later server errors (e.g. EMFILE on accept) must not crash the agent; connections already open carry on.
      server.on('error', () => undefined);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * The proxy itself: its server and connections, the targets (the current one and any
 * still draining), and the switches between them. Each request passes the maintenance
 * gate (proxy-maintenance.ts), then is forwarded (proxy-forward.ts).
 */
class SlipwayProxy implements ReverseProxy {
  /** the environment's own port first, then the HTTPS one and the challenge port when they are separate */
  private readonly servers: Array<{ server: net.Server; port: number; role: ListenerRole; host: string | undefined; bound: number }> = [];
  /** every accepted TCP connection, HTTPS ones included (as they were before TLS) */
  private readonly sockets = new Set<net.Socket>();
  /** HTTP/2 connections on the HTTPS port, with the TCP connection each one runs on */
  private readonly sessions = new Map<http2.ServerHttp2Session, net.Socket | undefined>();
  /** TCP connections on the HTTPS port with no HTTP/2 session (yet), by remote address and port */
  private readonly pendingTls = new Map<string, net.Socket>();
  private readonly tunnels = new Set<net.Socket>();
  private readonly targets = new Map<number, Target>();
  private readonly gate = new MaintenanceGate();
  private readonly forwarding: ForwardingProxy;
  private current: Target | null = null;
  private listenHost = '';
  private closing: Promise<void> | undefined;
  private readonly counters = { requests: 0, errors: 0, inFlight: 0 };

  constructor(upstreamHost: string, isTrustedProxy: (address: string | undefined) => boolean, private readonly tls?: ProxyTlsOptions) {
    this.forwarding = { upstreamHost, current: () => this.current, counters: this.counters, tunnels: this.tunnels, isTrustedProxy };
  }

  get port(): number {
    return this.servers[0]?.bound ?? 0;
  }

  get host(): string {
    return this.servers[0]?.host ?? this.listenHost;
  }

  get httpsPort(): number | null {
    return this.servers.find((s) => s.role === 'https')?.bound ?? null;
  }

  get challengePort(): number | null {
    return this.servers.find((s) => s.role === 'challenges')?.bound ?? null;
  }

  /**
   * Without TLS, one plain listener serving the app. With TLS: the environment's own port, the
   * HTTPS port, and the challenge port redirecting to HTTPS; the environment's port is the
   * challenge port when they are the same number (it then redirects too).
   */
  async listen(host: string, port: number): Promise<void> {
    this.listenHost = host;
    const app = { request: this.onRequest.bind(this), upgrade: this.onUpgrade.bind(this) };
    // No request timeout: uploads and long requests belong to the app; headersTimeout still guards slow clients.
    const plainServer = () => http.createServer({ requestTimeout: 0 });
    const tls = this.tls;
    if (!tls) {
      this.serve({ server: plainServer(), handlers: app, port, role: 'app' });
    } else {
      const merged = tls.httpPort === port && port !== 0;
      const redirecting = plainListener({ challenges: tls.challenges, redirectTo: tls.redirectHttp ? () => this.httpsPort ?? tls.port : null, app });
      // The environment's own port, when it is not the challenge port, serves plain HTTP: with TLS on it stays on
      // loopback (the agent's and the user's own checks), so nothing from outside reaches the app unencrypted.
      const ownHost = merged ? host : loopbackOf(host);
      this.serve({ server: plainServer(), handlers: merged ? redirecting : plainListener({ challenges: tls.challenges, redirectTo: null, app }), port, role: merged ? 'challenges' : 'app', host: ownHost });
      // One request path for both schemes: blue/green, drain, maintenance and upgrades behave the same over HTTPS.
      this.serve({ server: createTlsServer(tls.contexts), handlers: app, port: tls.port, role: 'https' });
      if (!merged) this.serve({ server: plainServer(), handlers: redirecting, port: tls.httpPort, role: 'challenges' });
    }
    for (const entry of this.servers) entry.bound = await listenOn(entry.server, entry.host ?? host, entry.port);
  }

  private serve(o: { server: net.Server; handlers: Handlers; port: number; role: ListenerRole; host?: string }): void {
    const https = o.role === 'https';
    o.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      const key = https ? `${socket.remoteAddress}|${socket.remotePort}` : '';
      if (https) this.pendingTls.set(key, socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (https) this.pendingTls.delete(key);
      });
    });
    if (https) {
      o.server.on('session', (session: http2.ServerHttp2Session) => {
        // The TLS socket has the same peer as the TCP one it runs on: that pairs them.
        const key = `${session.socket.remoteAddress}|${session.socket.remotePort}`;
        this.sessions.set(session, this.pendingTls.get(key));
        this.pendingTls.delete(key);
        session.once('close', () => this.sessions.delete(session));
        if (this.closing) session.close();
      });
    }
    o.server.on('request', (req: ClientRequest, res: ClientResponse) => o.handlers.request(req, res));
    o.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => o.handlers.upgrade(req, socket, head));
    this.servers.push({ server: o.server, port: o.port, role: o.role, host: o.host, bound: 0 });
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
      next = new Target(this.forwarding.upstreamHost, port, (target) => this.dispose(target));
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
    this.gate.set(m);
  }

  maintenance(): MaintenanceMode {
    return this.gate.get();
  }

  writesSettled(timeoutMs: number): Promise<boolean> {
    return this.gate.writesSettled(timeoutMs);
  }

  stats(): ProxyStats {
    return {
      ...this.counters,
      held: this.gate.held,
      upgraded: this.tunnels.size,
      targets: [...this.targets.values()].map((t) => ({ port: t.port, current: t === this.current, inFlight: t.inFlight })),
    };
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const targets = [...this.targets.values()];
      this.targets.clear();
      this.current = null;
      let graceTimer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(graceTimer);
        // Only now: streams finishing during the grace still talk to the app through these.
        for (const target of targets) target.dispose();
        resolve();
      };
      let open = this.servers.length;
      if (open === 0) return finish();
      for (const { server } of this.servers) server.close(() => --open === 0 && finish());
      // HTTP/2 connections get a GOAWAY: no new streams, the open ones finish, and each connection
      // ends with its last stream. Everything else is cut now; what is left after the grace, then.
      const http2Sockets = new Set(this.sessions.values());
      for (const session of this.sessions.keys()) session.close();
      for (const socket of this.sockets) if (!http2Sockets.has(socket)) socket.destroy();
      for (const socket of this.tunnels) socket.destroy();
      graceTimer = setTimeout(() => {
        for (const session of this.sessions.keys()) session.destroy();
        for (const socket of this.sockets) socket.destroy();
      }, HTTP2_CLOSE_GRACE_MS);
    });
    return this.closing;
  }

  private dispose(target: Target): void {
    if (this.targets.get(target.port) !== target || this.current === target) return;
    this.targets.delete(target.port);
    target.dispose();
  }

  // ---- HTTP requests (HTTP/1.1, and HTTP/2 on the HTTPS port) ---------------

  private onRequest(req: ClientRequest, res: ClientResponse): void {
    this.counters.requests += 1;
    this.counters.inFlight += 1;
    res.once('close', () => (this.counters.inFlight -= 1));
    req.on('error', () => undefined); // a client that goes away mid-body; the response side handles it
    this.gate.pass({
      method: req.method ?? 'GET',
      arrivedAt: performance.now(),
      onGone: (listener) => {
        res.once('close', listener);
        return () => res.off('close', listener);
      },
      isGone: () => answerGone(res),
      proceed: () => forwardRequest(this.forwarding, req, res, 0),
      refuse: (retryAfter) => sendRefusal(req, res, retryAfter),
    });
  }

  // ---- upgrade (WebSocket) -------------------------------------------------

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.counters.requests += 1;
    socket.on('error', () => socket.destroy());
    let gone = false;
    socket.once('close', () => (gone = true));
    this.gate.pass({
      method: req.method ?? 'GET',
      arrivedAt: performance.now(),
      onGone: (listener) => {
        socket.once('close', listener);
        return () => socket.off('close', listener);
      },
      isGone: () => gone,
      proceed: () => forwardUpgrade(this.forwarding, req, socket, head),
      refuse: (retryAfter) =>
        writeRawResponse(socket, 503, { 'retry-after': String(retryAfter), 'content-type': 'text/plain; charset=utf-8' }, 'Down for maintenance.\n'),
    });
  }
}
