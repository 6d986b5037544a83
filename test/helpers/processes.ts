import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Live processes whose working folder is inside `dir`: agents, the CLI, the app,
 * migrations, dump tools. Every e2e fixture's teardown uses it to prove that
 * nothing was left running (zombies are already dead and do not count).
 */
export function processesUnder(dir: string): { pid: number; cwd: string; cmd: string }[] {
  const found: { pid: number; cwd: string; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      found.push({ pid: Number(name), cwd, cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Sends `signal` (default SIGKILL) to `pid` (negative: its whole process group); one already gone is fine. */
export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * SIGKILLs every live process working inside `dir`, in rounds 50 ms apart until none
 * is left (40 rounds at most: a killed parent's child may appear meanwhile). Returns
 * those still alive after the last round (none, normally).
 */
export async function killProcessesUnder(dir: string): Promise<ReturnType<typeof processesUnder>> {
  let survivors = processesUnder(dir);
  for (let round = 0; round < 40 && survivors.length > 0; round++) {
    for (const p of survivors) killQuietly(p.pid);
    await new Promise((r) => setTimeout(r, 50));
    survivors = processesUnder(dir);
  }
  return survivors;
}

/** Waits up to `timeoutMs` for the processes working inside `dir` to end by themselves; returns those still alive. */
export async function waitForProcessesUnder(dir: string, timeoutMs: number): Promise<ReturnType<typeof processesUnder>> {
  const deadline = Date.now() + timeoutMs;
  let left = processesUnder(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = processesUnder(dir);
  }
  return left;
}

export interface AgentProcess {
  environment: string;
  pid: number;
  child: ChildProcess;
  /** everything the agent printed so far */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s) */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `slipway agent --env <environment>` as a child process and resolves once it
 * listens (SIGKILL if it does not within a minute); rejects with its output if it exits first.
 */
export async function startAgentProcess(o: {
  cli: string;
  cwd: string;
  environment: string;
  env: NodeJS.ProcessEnv;
  /** its own process group, so that a test can kill it and its app as a whole (default true) */
  detached?: boolean;
  onStart?(agent: AgentProcess): void;
}): Promise<AgentProcess> {
  const child = spawn(process.execPath, [o.cli, 'agent', '--env', o.environment], {
    cwd: o.cwd,
    env: o.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: o.detached ?? true,
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const agent: AgentProcess = {
    environment: o.environment,
    pid: child.pid!,
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    },
  };
  o.onStart?.(agent);
  const listening = new Promise<void>((resolve, reject) => {
    const onData = (chunk: string) => {
      output += chunk;
      if (/ listening on http/.test(output)) resolve();
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`the ${o.environment} agent exited at start (code ${code}, signal ${signal}):\n${output}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    await listening;
  } finally {
    clearTimeout(timer);
  }
  return agent;
}
