/**
 * Forwarding to the target that is current when a request is sent: plain HTTP requests,
 * HTTP/1.1 or HTTP/2 from the client and HTTP/1.1 to the app (retried once on a stale pooled
 * connection when that is safe), and upgrades, which become tunnels between the client's
 * socket and the app's.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { sendText, writeRawResponse } from './proxy-answers.js';
import {
  RETRYABLE_METHODS,
  answerGone,
  filterHeaders,
  forwardedRequestHeaders,
  headerLines,
  rawHeaderLines,
  requestHasBody,
  statusLine,
  writeAnswerHead,
  type ClientRequest,
  type ClientResponse,
} from './proxy-http.js';
import type { Target } from './proxy-target.js';

/**
 * Connection failures before the app wrote anything, typically a pooled connection the app
 * closed meanwhile: UND_ERR_SOCKET is the pool's "other side closed".
 */
const RETRYABLE_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** What forwarding needs of the proxy. */
export interface ForwardingProxy {
  /** where the release slots listen */
  readonly upstreamHost: string;
  /** the target serving now (read as each request is sent), null when none is */
  current(): Target | null;
  /** requests answered 502 or cut off because the upstream failed */
  readonly counters: { errors: number };
  /** upgraded connections open now, for stats and close */
  readonly tunnels: Set<net.Socket>;
  /** whether a connection's address is one of the environment's `trusted_proxies` */
  isTrustedProxy(address: string | undefined): boolean;
}

export function forwardRequest(proxy: ForwardingProxy, req: ClientRequest, res: ClientResponse, attempt: number): void {
  const target = proxy.current();
  if (!target) {
    sendText(res, 503, JSON.stringify({ error: 'no release is serving' }) + '\n', 'application/json');
    return;
  }
  const release = target.acquire();
  const hasBody = requestHasBody(req);
  const headers = forwardedRequestHeaders(req, false, proxy.isTrustedProxy(req.socket.remoteAddress));
  // The pool frames a body without a length as chunked by itself, and refuses to be told to.
  delete headers['transfer-encoding'];
  let responded = false;
  let done = false;
  let clientGone = false;
  let abort: ((reason?: Error) => void) | undefined;

  const onClientClose = () => {
    clientGone = true;
    release();
    // The client went away before the answer was complete: stop the work upstream too.
    if (!done) abort?.();
  };
  res.once('close', onClientClose);

  target.pool.dispatch(
    { path: req.url ?? '/', method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers, body: hasBody ? (req as Readable) : null },
    {
      onConnect(abortRequest) {
        abort = abortRequest;
      },
      onHeaders(status, rawHeaders, resume, statusText) {
        // An informational answer (103 Early Hints) comes before the real one: not passed on, as before.
        if (status < 200) return true;
        responded = true;
        const names: string[] = [];
        for (const header of rawHeaders) names.push(header.toString('latin1'));
        writeAnswerHead(res, status, filterHeaders(names, connectionHeader(names), false), statusText);
        // Backpressure: a slow client pauses the app's answer, as pipe() did.
        res.on('drain', () => resume());
        return true;
      },
      onData(chunk) {
        return answerGone(res) ? true : (res as NodeJS.WritableStream).write(chunk);
      },
      onComplete() {
        done = true;
        res.end();
      },
      onError(error: Error & { code?: string }) {
        done = true;
        if (clientGone || answerGone(res)) return; // the client left first (our own abort)
        if (responded) {
          // The app broke off mid-answer: cut the client's answer off too (it must not look complete).
          proxy.counters.errors += 1;
          res.destroy();
          return;
        }
        const retryable = attempt === 0 && !hasBody && RETRYABLE_METHODS.has(req.method ?? '') && RETRYABLE_ERRORS.has(error.code ?? '');
        if (retryable) {
          res.off('close', onClientClose);
          release();
          forwardRequest(proxy, req, res, attempt + 1);
          return;
        }
        proxy.counters.errors += 1;
        if (!res.headersSent) {
          // (HTTP/2 has no such header: sendText leaves it out; its connection carries other streams.)
          sendText(res, 502, `Bad gateway: the application did not answer (${error.code ?? error.message}).\n`, 'text/plain; charset=utf-8', { connection: 'close' });
        } else res.destroy();
      },
    },
  );
}

/** The Connection header among raw header lines (its tokens name more hop-by-hop headers). */
function connectionHeader(rawHeaders: string[]): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === 10 && rawHeaders[i]!.toLowerCase() === 'connection') return rawHeaders[i + 1];
  return undefined;
}

export function forwardUpgrade(proxy: ForwardingProxy, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
  const target = proxy.current();
  if (!target) {
    writeRawResponse(socket, 503, { 'content-type': 'application/json' }, JSON.stringify({ error: 'no release is serving' }) + '\n');
    return;
  }
  const upstream = http.request({
    host: proxy.upstreamHost,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: forwardedRequestHeaders(req, true, proxy.isTrustedProxy(req.socket.remoteAddress)),
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
    proxy.tunnels.add(socket);
    const closeBoth = () => {
      proxy.tunnels.delete(socket);
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
    proxy.counters.errors += 1;
    writeRawResponse(socket, 502, { 'content-type': 'text/plain; charset=utf-8' }, `Bad gateway: the application did not answer (${error.code ?? error.message}).\n`);
  });
  upstream.end();
}
