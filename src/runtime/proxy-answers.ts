/**
 * What the proxy answers by itself, with no app involved: no release serving, a bad
 * gateway, down for maintenance; on a plain response, or raw on an upgrade's socket.
 */
import type http from 'node:http';
import type net from 'node:net';
import { statusLine } from './proxy-http.js';

export function sendText(res: http.ServerResponse, status: number, body: string, contentType: string, extra: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, {
    ...extra,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

export function sendRefusal(req: http.IncomingMessage, res: http.ServerResponse, retryAfterSeconds: number): void {
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
