/**
 * For the rollback benches: when the old release first answers through the proxy. GET /version
 * every 5 ms on one kept-alive connection until the answer (trimmed) is `want`: the ms since `t0`,
 * or null once `stop.stopped`. `last` gets every answer seen (for a message when it never came).
 */
import http from 'node:http';

export async function pollVersionUntil(port: number, want: string, t0: number, stop: { stopped: boolean }, last: { body: string } = { body: '' }): Promise<number | null> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const once = () =>
    new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/version', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body.trim()));
        res.on('error', () => resolve(''));
      });
      req.on('error', () => resolve(''));
    });
  try {
    while (!stop.stopped) {
      last.body = await once();
      if (last.body === want) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
    }
    return null;
  } finally {
    agent.destroy();
  }
}
