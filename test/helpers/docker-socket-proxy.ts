/**
 * A unix socket that forwards to the Docker engine's own, for making the engine unreachable
 * to one agent (DOCKER_HOST=unix://<path>) without touching the engine every other test
 * uses: `cut()` drops every open connection and removes the socket (a new one finds nothing,
 * as when the engine is down), `restore()` listens again. The engine's containers run on.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';

export interface DockerSocketProxy {
  /** the socket to give as DOCKER_HOST=unix://<path> */
  path: string;
  /** true while it forwards */
  isUp(): boolean;
  /** connections forwarded so far (a step that never called the engine opened none) */
  connections(): number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startDockerSocketProxy(o: { path: string; target?: string }): Promise<DockerSocketProxy> {
  const target = o.target ?? '/var/run/docker.sock';
  const open = new Set<net.Socket>();
  let forwarded = 0;
  let server: net.Server | null = null;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      rmSync(o.path, { force: true });
      const s = net.createServer((client) => {
        forwarded += 1;
        const engine = net.createConnection(target);
        open.add(client).add(engine);
        const drop = () => {
          client.destroy();
          engine.destroy();
          open.delete(client);
          open.delete(engine);
        };
        client.on('error', drop).on('close', drop);
        engine.on('error', drop).on('close', drop);
        client.pipe(engine);
        engine.pipe(client);
      });
      s.once('error', reject);
      s.listen(o.path, () => {
        server = s;
        resolve();
      });
    });

  const cut = async () => {
    const s = server;
    server = null;
    if (s === null) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of open) socket.destroy();
    open.clear();
    await closed;
    rmSync(o.path, { force: true });
  };

  await listen();
  return {
    path: o.path,
    isUp: () => server !== null,
    connections: () => forwarded,
    cut,
    restore: async () => {
      if (server === null) await listen();
    },
    close: cut,
  };
}
