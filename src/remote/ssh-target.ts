/** Which host an SSH connection goes to: ssh://[user@]host[:port], and its names in messages and known_hosts. */
import { usageError } from '../errors.js';

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

const SSH_URL = /^ssh:\/\/(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_][A-Za-z0-9._-]*))(?::(\d{1,5}))?\/?$/;

/** ssh://[user@]host[:port] (IPv6 in brackets). A host or user starting with "-" could pass as an ssh option, so the pattern refuses it. */
export function parseSshUrl(url: string): SshTarget {
  const match = SSH_URL.exec(url.trim());
  const port = match?.[4] === undefined ? undefined : Number(match[4]);
  if (!match || (port !== undefined && (port < 1 || port > 65535)) || (match[2] !== undefined && !match[2].includes(':'))) {
    throw usageError('INVALID_SSH_URL', `"${url}" is not an SSH address.`, {
      hint: 'Write it as ssh://[user@]host[:port], e.g. ssh://deploy@app1.example.com or ssh://root@[2001:db8::1]:2222.',
    });
  }
  const target: SshTarget = { host: match[2] ?? match[3] };
  if (match[1] !== undefined) target.user = match[1];
  if (port !== undefined) target.port = port;
  return target;
}

/** user@host:port, for messages (IPv6 hosts in brackets). */
export function describeTarget(target: SshTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user === undefined ? '' : `${target.user}@`}${host}${target.port === undefined ? '' : `:${target.port}`}`;
}

/** The name known_hosts files the host under: [host]:port unless the port is 22. */
export function knownHostsName(target: SshTarget): string {
  return target.port === undefined || target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
}
