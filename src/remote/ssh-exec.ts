/**
 * Short local ssh commands, run to completion: the configuration ssh resolves for a
 * host (ssh -G), and the master's control commands (-O check, -O exit).
 */
import { execFile } from 'node:child_process';
import { classifySshFailure, sshClientMissing } from './ssh-failure.js';
import { connectionArgs, type SshSettings } from './ssh-settings.js';
import type { SshTarget } from './ssh-target.js';

interface ExecResult {
  code: number | null;
  stderr: string;
  stdout: string;
}

/** Runs a short local ssh command (never throws for a non-zero exit). */
export function execSsh(args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile('ssh', args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') return reject(sshClientMissing(error));
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `-o StrictHostKeyChecking=yes` unless the user's ssh_config says otherwise for this
 * host: a command-line option would override their choice, and OpenSSH's default
 * ("ask") is what tells the two apart. Also reports a broken config before connecting.
 */
export async function hostKeyCheckingArgs(target: SshTarget, settings: SshSettings): Promise<string[]> {
  const resolved = await execSsh(['-G', ...connectionArgs(target, settings), '--', target.host], 10_000);
  if (resolved.code !== 0) throw classifySshFailure({ target, settings, stderr: resolved.stderr });
  const value = /^stricthostkeychecking (\S+)$/m.exec(resolved.stdout)?.[1];
  return value === undefined || value === 'ask' ? ['-o', 'StrictHostKeyChecking=yes'] : [];
}
