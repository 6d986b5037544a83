/**
 * The `ports` and `volumes` entries of a compose service, short syntax ("8000:8000",
 * "pgdata:/var/lib/postgresql/data:ro") and long ({ target, published }, { type, source, target }).
 */
import { isRecord } from './compose-source.js';

export interface ComposePort {
  /** the port the process listens on inside the container */
  container: number;
  /** where the compose file published it on the host, if it did */
  host?: number;
}

/** One `ports` entry, or undefined for what slipway cannot use (ranges, UDP, unreadable). */
export function parsePort(entry: unknown): ComposePort | undefined {
  if (typeof entry === 'number') return Number.isInteger(entry) ? { container: entry } : undefined;
  if (isRecord(entry)) {
    const container = Number(entry.target);
    const host = entry.published === undefined ? undefined : Number(entry.published);
    if (!Number.isInteger(container) || entry.protocol === 'udp') return undefined;
    return host !== undefined && Number.isInteger(host) ? { container, host } : { container };
  }
  if (typeof entry !== 'string') return undefined;
  const [spec, protocol] = entry.split('/');
  if (protocol !== undefined && protocol !== 'tcp') return undefined;
  // [ip:][host:]container, where ip may be an IPv6 address in brackets
  const parts = spec!.replace(/^\[[^\]]*\]:/, '').split(':');
  const container = parts.at(-1)!;
  const host = parts.length >= 2 ? parts.at(-2)! : undefined;
  if (!/^\d+$/.test(container) || (host !== undefined && host !== '' && !/^\d+$/.test(host))) return undefined;
  return host === undefined || host === '' ? { container: Number(container) } : { container: Number(container), host: Number(host) };
}

export interface ComposeVolume {
  /** named: a volume; bind: a host path; anonymous: a target only; other: tmpfs and the like */
  kind: 'named' | 'bind' | 'anonymous' | 'other';
  source?: string;
  target: string;
  readOnly: boolean;
}

export function parseVolume(entry: unknown): ComposeVolume | undefined {
  if (isRecord(entry)) {
    const target = typeof entry.target === 'string' ? entry.target : undefined;
    if (target === undefined) return undefined;
    const source = typeof entry.source === 'string' ? entry.source : undefined;
    const readOnly = entry.read_only === true;
    if (entry.type === 'volume') return source === undefined ? { kind: 'anonymous', target, readOnly } : { kind: 'named', source, target, readOnly };
    if (entry.type === 'bind' && source !== undefined) return { kind: 'bind', source, target, readOnly };
    return { kind: 'other', target, readOnly };
  }
  if (typeof entry !== 'string') return undefined;
  const parts = entry.split(':');
  if (parts.length === 1) return { kind: 'anonymous', target: parts[0]!, readOnly: false };
  const [source, target, mode = ''] = parts;
  if (source === undefined || target === undefined || !target.startsWith('/')) return undefined;
  const readOnly = mode.split(',').includes('ro');
  const isPath = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
  return { kind: isPath ? 'bind' : 'named', source, target, readOnly };
}
