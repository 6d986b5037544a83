/**
 * HTTP-01 challenges (RFC 8555 §8.3) in progress: the certificate authority fetches
 * http://<domain>/.well-known/acme-challenge/<token> on port 80 and expects the key
 * authorization. The agent's certificate orders add them; the proxy's plain listeners answer them.
 */
import type http from 'node:http';

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 tokens are base64url */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

export class AcmeChallenges {
  private readonly answers = new Map<string, string>();

  add(token: string, keyAuthorization: string): void {
    this.answers.set(token, keyAuthorization);
  }

  remove(token: string): void {
    this.answers.delete(token);
  }

  get size(): number {
    return this.answers.size;
  }

  /**
   * Answers a request for a challenge path: the key authorization when the token is known, 404
   * otherwise. Returns false for any other path (the request is not the challenges' to answer).
   */
  answer(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? '';
    if (!url.startsWith(CHALLENGE_PREFIX)) return false;
    const token = url.slice(CHALLENGE_PREFIX.length).split('?')[0] ?? '';
    const body = TOKEN_PATTERN.test(token) ? this.answers.get(token) : undefined;
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body ?? 'unknown challenge\n')) });
    res.end(req.method === 'HEAD' ? undefined : (body ?? 'unknown challenge\n'));
    return true;
  }
}
