/**
 * A small pool of install workers (install-worker.ts) for one install: started for it,
 * ended after it. Batches go to the least busy worker; every object file a worker
 * reports written is remembered, so that a refused install can take them back.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { InstallOp, InstallReply } from './install-worker.js';

export class InstallWorkerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly path: string | undefined,
    readonly errno: string | undefined,
  ) {
    super(message);
  }
}

export interface InstallWorkers {
  readonly size: number;
  /** runs a batch on the least busy worker (or on worker `on`) */
  run(message: InstallOp, options?: { on?: number; transfer?: ArrayBuffer[] }): Promise<number[] | undefined>;
  /** runs a batch that answers texts (folderStamps) */
  texts(message: InstallOp): Promise<string[]>;
  /** batches handed out and not yet answered */
  readonly pending: number;
  /** every object file written so far */
  readonly written: string[];
  close(): Promise<void>;
}

export function startInstallWorkers(count = Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length))): InstallWorkers {
  const workers = Array.from({ length: count }, () => new Worker(new URL('./install-worker.js', import.meta.url)));
  const busy = workers.map(() => 0);
  const waiting = new Map<number, { resolve: (reply: InstallReply & { ok: true }) => void; reject: (error: unknown) => void; worker: number }>();
  const written: string[] = [];
  let nextId = 0;
  let pending = 0;
  workers.forEach((worker, i) => {
    worker.on('message', (reply: InstallReply) => {
      const entry = waiting.get(reply.id);
      if (!entry) return;
      waiting.delete(reply.id);
      busy[i] -= 1;
      pending -= 1;
      written.push(...reply.written);
      if (reply.ok) entry.resolve(reply);
      else entry.reject(new InstallWorkerError(reply.error.code, reply.error.message, reply.error.path, reply.error.errno));
    });
    worker.on('error', (error) => {
      for (const [id, entry] of waiting) {
        if (entry.worker !== i) continue;
        waiting.delete(id);
        pending -= 1;
        entry.reject(error);
      }
    });
  });
  const request = (message: InstallOp, options: { on?: number; transfer?: ArrayBuffer[] }): Promise<InstallReply & { ok: true }> => {
    const target = options.on ?? busy.indexOf(Math.min(...busy));
    const id = nextId++;
    busy[target] += 1;
    pending += 1;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject, worker: target });
      workers[target]!.postMessage({ id, message }, options.transfer ?? []);
    });
  };
  return {
    size: count,
    get pending() {
      return pending;
    },
    written,
    async run(message, options = {}) {
      return (await request(message, options)).stats;
    },
    async texts(message) {
      return (await request(message, {})).texts ?? [];
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.terminate()));
    },
  };
}
