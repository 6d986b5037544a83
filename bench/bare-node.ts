import { spawn } from 'node:child_process';

/** The wall time of a bare `node -e 0` (with `change` made to the environment): the floor under any CLI call on this machine right now. */
export async function bareNodeMs(change: NodeJS.ProcessEnv = {}): Promise<number> {
  const env = { ...process.env };
  for (const [name, value] of Object.entries(change)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const t0 = performance.now();
  await new Promise((resolve) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env }).on('close', resolve));
  return performance.now() - t0;
}
