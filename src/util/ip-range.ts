/**
 * IP addresses and CIDR ranges, as slipway.yml's `trusted_proxies` lists them
 * (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`), and a matcher for a connection's address.
 */
import net from 'node:net';

/** Why `entry` is not an IP address or a CIDR range, or undefined when it is one. */
export function ipRangeProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = net.isIP(address);
  if (family === 0) return `"${entry}" is not an IP address or a CIDR range like 10.0.0.0/8 or fd00::/8`;
  if (slash === -1) return undefined;
  const prefix = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${entry}": the prefix length after / must be 0 to ${max} for an IPv${family} range`;
  return undefined;
}

/** An IPv4 address as Node reports it on a dual-stack socket (::ffff:10.0.0.5), as plain IPv4. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * Whether an address is in one of `entries` (each valid by ipRangeProblem; an invalid one
 * throws). An empty list matches nothing.
 */
export function addressMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new net.BlockList();
  for (const entry of entries) {
    const problem = ipRangeProblem(entry);
    if (problem !== undefined) throw new Error(problem);
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const type = net.isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    if (address === undefined) return false;
    const plain = plainAddress(address);
    const family = net.isIP(plain);
    return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
}
