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
