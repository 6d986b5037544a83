/**
 * A pool of file workers (file-worker.ts) for one build or publish: started for it,
 * ended after it. Batches go to the least busy worker.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SlipwayError } from '../errors.js';
import type { FileOp, FileReply } from './file-worker.js';

type Answer<K extends FileOp['op']> = Extract<FileReply, { ok: true; op: K }>;

export interface FileWorkers {
  readonly size: number;
  run<K extends FileOp['op']>(message: Extract<FileOp, { op: K }>): Promise<Answer<K>>;
  close(): Promise<void>;
}

/** One worker per core (at most 4): the work is reading, hashing and compressing. */
export function fileWorkerCount(): number {
  return Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));
}

export function startFileWorkers(count = fileWorkerCount()): FileWorkers {
  const workers = Array.from({ length: count }, () => new Worker(new URL('./file-worker.js', import.meta.url)));
  const busy = workers.map(() => 0);
  const waiting = new Map<number, { resolve: (reply: FileReply) => void; reject: (error: unknown) => void; worker: number }>();
  let nextId = 0;
  workers.forEach((worker, i) => {
    worker.on('message', (reply: FileReply) => {
      const entry = waiting.get(reply.id);
      if (!entry) return;
      waiting.delete(reply.id);
      busy[i] -= 1;
      if (reply.ok) entry.resolve(reply);
      else entry.reject(workerFailure(reply.error));
    });
    worker.on('error', (error) => {
      for (const [id, entry] of waiting) {
        if (entry.worker !== i) continue;
        waiting.delete(id);
        entry.reject(error);
      }
    });
  });
  return {
    size: count,
    run(message) {
      const target = busy.indexOf(Math.min(...busy));
      const id = nextId++;
      busy[target] += 1;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (reply: FileReply) => void, reject, worker: target });
        workers[target]!.postMessage({ id, message });
      });
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.terminate()));
    },
  };
}

/** A worker's failure as the error a user sees: a file that changed under the build, or the file system's own error. */
function workerFailure(error: Extract<FileReply, { ok: false }>['error']): Error {
  if (error.code === 'CONTENT_CHANGED') {
    return new SlipwayError('RELEASE_SOURCE_CHANGED', `a content of the release does not match its manifest (expected ${error.digest!.slice(0, 12)}, read ${error.actual!.slice(0, 12)}); nothing was stored`, {
      hint: 'if this is a build, something else wrote into the build folder: build again; if the release was sent, send it again',
    });
  }
  return Object.assign(new Error(error.message), { code: error.errno, path: error.path });
}
