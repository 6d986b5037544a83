/**
 * What the proxy answers by itself, with no app involved: no release serving, a bad
 * gateway, down for maintenance; on a plain response (HTTP/1.1 or HTTP/2), or raw on an
 * upgrade's socket.
 */
import type net from 'node:net';
import { answerGone, statusLine, writeAnswerHead, type ClientRequest, type ClientResponse } from './proxy-http.js';

export function sendText(res: ClientResponse, status: number, body: string, contentType: string, extra: Record<string, string> = {}): void {
  if (answerGone(res)) return;
  writeAnswerHead(res, status, {
    ...extra,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  });
  if (res.req?.method === 'HEAD') res.end();
  else res.end(body);
}

export function sendRefusal(req: ClientRequest, res: ClientResponse, retryAfterSeconds: number): void {
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

export function writeRawResponse(socket: net.Socket, status: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed) return;
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`${statusLine(status, undefined)}${lines}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
