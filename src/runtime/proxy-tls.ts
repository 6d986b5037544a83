/**
 * HTTPS in slipway's proxy: the certificates it presents (swapped while it runs: new
 * handshakes take the new one, open connections keep theirs), the HTTPS server that feeds
 * the proxy's one request path, and the plain listeners' own work: answering ACME HTTP-01
 * challenges and redirecting everything else to HTTPS.
 */
import type http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import type { AcmeChallenges } from './acme-challenges.js';
import { writeRawResponse } from './proxy-answers.js';

/** A PEM certificate chain (leaf first) and its private key. */
export interface CertificatePair {
  cert: string | Buffer;
  key: string | Buffer;
}

/** What the proxy needs to serve HTTPS. */
export interface ProxyTlsOptions {
  /** HTTPS port; 0 lets the OS pick (tests): read it back from `proxy.httpsPort` */
  port: number;
  /** plain HTTP port for challenges and redirects; the proxy's own `port` when equal; 0: the OS picks */
  httpPort: number;
  /** on httpPort: true redirects to HTTPS, false serves the app over plain HTTP too */
  redirectHttp: boolean;
  contexts: SecureContexts;
  /** answered on every plain listener (automatic certificates only) */
  challenges?: AcmeChallenges;
}

/**
 * The certificates by server name, plus the one for clients that send no name (SNI). Set at
 * any time: the HTTPS server asks at each handshake, so a renewed certificate is served from
 * the next connection on, without restarting anything.
 */
export class SecureContexts {
  private readonly byName = new Map<string, tls.SecureContext>();
  private fallback: CertificatePair | null = null;
  private readonly fallbackListeners = new Set<(pair: CertificatePair) => void>();

  /** Throws (as tls.createSecureContext does) when the key does not match the certificate or either is not PEM. */
  set(name: string, pair: CertificatePair, o: { fallback?: boolean } = {}): void {
    this.byName.set(name.toLowerCase(), tls.createSecureContext({ cert: pair.cert, key: pair.key }));
    if (o.fallback === true || this.fallback === null) this.setFallback(pair);
  }

  /** The certificate for clients without SNI, and for names without their own. */
  setFallback(pair: CertificatePair): void {
    tls.createSecureContext({ cert: pair.cert, key: pair.key }); // refuse a bad pair before anything changes
    this.fallback = pair;
    for (const listener of this.fallbackListeners) listener(pair);
  }

  forName(servername: string): tls.SecureContext | undefined {
    return this.byName.get(servername.toLowerCase());
  }

  get hasAny(): boolean {
    return this.fallback !== null;
  }

  onFallback(listener: (pair: CertificatePair) => void): void {
    this.fallbackListeners.add(listener);
    if (this.fallback) listener(this.fallback);
  }
}

/** How long an HTTP/2 connection may stay silent before the proxy ends it (gracefully: open streams finish). */
const HTTP2_IDLE_TIMEOUT_MS = 120_000;

/**
 * An HTTPS server (TLS 1.2+) speaking HTTP/2 and HTTP/1.1, as the client chooses by ALPN, whose
 * certificate is picked by server name at each handshake. Its request and upgrade events go to the
 * same handlers as the plain server's (upgrades come over HTTP/1.1 only).
 */
export function createTlsServer(contexts: SecureContexts): http2.Http2SecureServer {
  const server = http2.createSecureServer({
    allowHTTP1: true,
    // An HTTP/1.1 server disables Nagle too; small answers must not wait for an ACK.
    noDelay: true,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['h2', 'http/1.1'],
    SNICallback: (servername, done) => {
      const context = contexts.forName(servername);
      // A name without a certificate of its own gets the fallback (the server's default context).
      done(null, context);
    },
  });
  keepHttp1AsBefore(server);
  contexts.onFallback((pair) => server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }));
  // A client that fails the handshake (no certificate yet, a port scanner) is dropped quietly.
  server.on('tlsClientError', (_error, socket) => socket.destroy());
  server.on('session', (session: http2.ServerHttp2Session) => session.setTimeout(HTTP2_IDLE_TIMEOUT_MS, () => session.close()));
  return server;
}

/**
 * The HTTP/1.1 settings an https.Server has and an HTTP/2 server falling back to HTTP/1.1 does not
 * take from its options: HTTP/1.1 clients get the same server as before HTTP/2 was offered.
 */
function keepHttp1AsBefore(server: http2.Http2SecureServer): void {
  Object.assign(server, {
    // No request timeout: uploads and long requests belong to the app; headersTimeout still guards slow clients.
    requestTimeout: 0,
    headersTimeout: 60_000,
    keepAliveTimeout: 5_000,
    requireHostHeader: true,
    httpAllowHalfOpen: false,
    maxHeadersCount: null,
    maxRequestsPerSocket: 0,
    rejectNonStandardBodyWrites: false,
  });
}

/** The host of a Host header without its port; null when the header is missing or malformed. */
function hostName(header: string | undefined): string | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.exec(header ?? '');
  return match ? match[1]!.toLowerCase() : null;
}

/** https://<host>[:port]<path>; 443 is left out. */
export function httpsLocation(req: http.IncomingMessage, httpsPort: number): string | null {
  const host = hostName(req.headers.host);
  if (host === null) return null;
  const path = (req.url ?? '/').startsWith('/') ? (req.url ?? '/') : '/';
  return `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}${path}`;
}

export interface PlainListener {
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void;
}

/**
 * A plain HTTP listener of a TLS environment: ACME challenges first (never held by maintenance),
 * then either a redirect to HTTPS (301 for GET/HEAD, 308 keeping the method and body otherwise)
 * or the app as usual.
 */
export function plainListener(o: { challenges?: AcmeChallenges; redirectTo: (() => number) | null; app: PlainListener }): PlainListener {
  return {
    request(req, res) {
      if (o.challenges?.answer(req, res)) return;
      if (o.redirectTo === null) return o.app.request(req, res);
      const location = httpsLocation(req, o.redirectTo());
      req.resume();
      if (location === null) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        res.end('A Host header is needed to redirect to HTTPS.\n');
        return;
      }
      const method = req.method ?? 'GET';
      res.writeHead(method === 'GET' || method === 'HEAD' ? 301 : 308, { location, 'content-type': 'text/plain; charset=utf-8', 'content-length': '0' });
      res.end();
    },
    upgrade(req, socket, head) {
      if (o.redirectTo === null) return o.app.upgrade(req, socket, head);
      socket.on('error', () => socket.destroy());
      const location = httpsLocation(req, o.redirectTo());
      if (location === null) writeRawResponse(socket, 400, {}, '');
      else writeRawResponse(socket, 308, { location }, '');
    },
  };
}
