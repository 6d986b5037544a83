/**
 * The HTTP of the proxy's messages: which headers stop at the proxy (hop-by-hop) and
 * which it adds when forwarding, which methods are safe to send twice, what differs for a
 * client speaking HTTP/2 (the app always gets HTTP/1.1), and the raw status and header
 * lines written to a socket once it left HTTP (upgrades).
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { plainAddress } from '../util/ip-range.js';

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
export const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Headers HTTP/2 forbids in an answer (RFC 9113 §8.2.2): Node refuses to send them. */
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

/** repeated headers (set-cookie) stay arrays; single ones are strings, as Node requires for e.g. host */
export type Headers = Record<string, string | string[]>;

/** A client's request as the proxy's listeners hand it over: HTTP/1.1, or HTTP/2 on the HTTPS port. */
export type ClientRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type ClientResponse = http.ServerResponse | http2.Http2ServerResponse;

export function isHttp2Answer(res: ClientResponse): res is http2.Http2ServerResponse {
  return res instanceof http2.Http2ServerResponse;
}

/** Whether the client can no longer get (more of) this answer. An HTTP/2 answer has no `destroyed` of its own: its stream has. */
export function answerGone(res: ClientResponse): boolean {
  return (isHttp2Answer(res) ? res.stream.destroyed : res.destroyed) || res.writableEnded;
}

export function requestHasBody(req: ClientRequest): boolean {
  const length = req.headers['content-length'];
  // HTTP/2 has no chunked framing: a body is whatever follows headers that did not end the stream.
  if (req.httpVersionMajor === 2) return !(req as http2.Http2ServerRequest).stream.endAfterHeaders && length !== '0';
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Starts an answer the way the client's protocol allows: HTTP/2 has no status message, and the
 * connection-specific headers are dropped for it (the proxy's own `connection: close` included).
 */
export function writeAnswerHead(res: ClientResponse, status: number, headers: Headers, statusMessage?: string): void {
  if (isHttp2Answer(res)) {
    for (const name of CONNECTION_SPECIFIC) delete headers[name];
    res.writeHead(status, headers);
  } else if (statusMessage !== undefined) res.writeHead(status, statusMessage, headers);
  else res.writeHead(status, headers);
}

const NO_TOKENS: ReadonlySet<string> = new Set();
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive']);

/** Header names listed in a Connection header are hop-by-hop too. */
function connectionTokens(connection: string | string[] | undefined): ReadonlySet<string> {
  // Nearly every request and answer has none, or `keep-alive`: no parsing (this runs twice per request).
  if (connection === undefined || connection === '') return NO_TOKENS;
  if (connection === 'keep-alive' || connection === 'Keep-Alive') return KEEP_ALIVE;
  const value = Array.isArray(connection) ? connection.join(',') : connection;
  return new Set(
    value
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Groups raw headers by lower-cased name (keeping repeated ones, e.g. set-cookie) and drops hop-by-hop ones. */
export function filterHeaders(rawHeaders: string[], connection: string | string[] | undefined, keepUpgrade: boolean): Headers {
  const dropped = connectionTokens(connection);
  const headers: Headers = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    // HTTP/2 pseudo-headers (:method, :path, :scheme, :authority) are not headers in HTTP/1.1.
    if (name.startsWith(':')) continue;
    const upgradeHeader = name === 'connection' || name === 'upgrade';
    if (!(keepUpgrade && upgradeHeader) && (HOP_BY_HOP.has(name) || dropped.has(name))) continue;
    const value = rawHeaders[i + 1];
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return headers;
}

/** What a client may tell the app about itself only through a proxy slipway trusts (`trusted_proxies`). */
const CLIENT_CLAIMS = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip'];

/**
 * The headers sent to the app. slipway's proxy says who the client is: X-Forwarded-For is the
 * connection's address, X-Forwarded-Proto `https` on the proxy's HTTPS port and `http` elsewhere,
 * X-Forwarded-Host the Host header. What a client sent in those headers (and in Forwarded and X-Real-IP) is dropped,
 * unless the connection comes from a trusted proxy (a TLS terminator in front of slipway): then its
 * X-Forwarded-For gets the connection's address appended, and its Proto and Host are kept.
 * An HTTP/2 request is turned into HTTP/1.1 ones: its :authority becomes the Host.
 */
export function forwardedRequestHeaders(req: ClientRequest, upgrade: boolean, fromTrustedProxy: boolean): Headers {
  const headers = filterHeaders(req.rawHeaders, req.headers.connection, upgrade);
  // slipway already answered "100 Continue" to the client; the app must not be asked again.
  delete headers['expect'];
  const http2Request = req.httpVersionMajor === 2;
  const host = http2Request ? (req as http2.Http2ServerRequest).headers[':authority'] ?? req.headers.host : req.headers.host;
  if (http2Request) {
    if (host) headers['host'] = host;
    // HTTP/2 may split Cookie in pieces; HTTP/1.1 wants one header (RFC 9113 §8.2.3).
    if (Array.isArray(headers['cookie'])) headers['cookie'] = headers['cookie'].join('; ');
  }
  // The body is re-framed as chunked; Node does that by itself for POST-like methods but not for GET/DELETE.
  const unsized = http2Request ? requestHasBody(req) && req.headers['content-length'] === undefined : req.headers['transfer-encoding'] !== undefined;
  if (unsized) headers['transfer-encoding'] = 'chunked';
  if (!fromTrustedProxy) for (const name of CLIENT_CLAIMS) delete headers[name];
  const clientAddress = plainAddress(req.socket.remoteAddress ?? '');
  const forwardedFor = [headers['x-forwarded-for'] ?? []].flat().join(', ');
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${clientAddress}` : clientAddress;
  headers['x-forwarded-proto'] ??= (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  if (host) headers['x-forwarded-host'] ??= host;
  return headers;
}

export function statusLine(status: number, message: string | undefined): string {
  return `HTTP/1.1 ${status} ${message || http.STATUS_CODES[status] || ''}\r\n`;
}

export function rawHeaderLines(rawHeaders: string[]): string {
  let out = '';
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) out += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return out;
}

export function headerLines(headers: Headers): string {
  let out = '';
  for (const [name, values] of Object.entries(headers)) for (const value of [values].flat()) out += `${name}: ${value}\r\n`;
  return out;
}
