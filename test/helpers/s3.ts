// Starts a throwaway S3-compatible server (s3rver) for a test: its own data
// folder in a temp dir, on 127.0.0.1 and a free port, with buckets made up front.
//
//   const s3 = await startS3Server({ buckets: ['releases'] });
//   t.after(() => s3.stop());
//
// s3rver accepts the fixed credentials S3RVER / S3RVER.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface RunningS3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  /** the server's data folder (objects live under <dir>/<bucket>/) */
  dir: string;
  /** AWS_* variables that let the SDK (and slipway) talk to this server */
  env: Record<string, string>;
  /** safe to call more than once */
  stop(): Promise<void>;
}

export async function startS3Server(options: { buckets: string[] }): Promise<RunningS3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port: address.port,
    dir,
    env: {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    },
    stop() {
      stopped ??= server
        .close()
        .catch(() => undefined)
        .finally(() => rmSync(dir, { recursive: true, force: true }));
      return stopped;
    },
  };
}
