/**
 * The HTTP of the proxy's messages: which headers stop at the proxy (hop-by-hop) and
 * which it adds when forwarding, which methods are safe to send twice, and the raw
 * status and header lines written to a socket once it left HTTP (upgrades).
 */
import http from 'node:http';
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

/** repeated headers (set-cookie) stay arrays; single ones are strings, as Node requires for e.g. host */
export type Headers = Record<string, string | string[]>;

export function requestHasBody(req: http.IncomingMessage): boolean {
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
export function filterHeaders(rawHeaders: string[], connection: string | string[] | undefined, keepUpgrade: boolean): Headers {
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

/** What a client may tell the app about itself only through a proxy slipway trusts (`trusted_proxies`). */
const CLIENT_CLAIMS = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip'];

/**
 * The headers sent to the app. slipway's proxy says who the client is: X-Forwarded-For is the
 * connection's address, X-Forwarded-Proto `https` on the proxy's HTTPS port and `http` elsewhere,
 * X-Forwarded-Host the Host header. What a client sent in those headers (and in Forwarded and X-Real-IP) is dropped,
 * unless the connection comes from a trusted proxy (a TLS terminator in front of slipway): then its
 * X-Forwarded-For gets the connection's address appended, and its Proto and Host are kept.
 */
export function forwardedRequestHeaders(req: http.IncomingMessage, upgrade: boolean, fromTrustedProxy: boolean): Headers {
  const headers = filterHeaders(req.rawHeaders, req.headers.connection, upgrade);
  // slipway already answered "100 Continue" to the client; the app must not be asked again.
  delete headers['expect'];
  // The body is re-framed as chunked; Node does that by itself for POST-like methods but not for GET/DELETE.
  if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  if (!fromTrustedProxy) for (const name of CLIENT_CLAIMS) delete headers[name];
  const clientAddress = plainAddress(req.socket.remoteAddress ?? '');
  const forwardedFor = [headers['x-forwarded-for'] ?? []].flat().join(', ');
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${clientAddress}` : clientAddress;
  headers['x-forwarded-proto'] ??= (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  if (req.headers.host) headers['x-forwarded-host'] ??= req.headers.host;
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
