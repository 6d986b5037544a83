/** Whether a host can run a CLI bundle: the same Node major, platform and architecture. */
import { SlipwayError } from '../errors.js';
import type { CliBundle } from './cli-bundle.js';

/**
 * What a host must match to run the bundle: the same Node major (native addons are built
 * for one ABI), platform and architecture. `host.arch`/`platform` may be Node's names
 * (x64, linux) or `uname -m`/`uname -s` output (x86_64, Linux).
 */
export function checkBundleCompatible(bundle: CliBundle, host: { nodeVersion: string | null; arch: string; platform: string }): void {
  const needed = `Node ${bundle.nodeMajor} on ${bundle.platform}/${bundle.arch}`;
  const hostPlatform = normalizePlatform(host.platform);
  const hostArch = normalizeArch(host.arch);
  const hostMajor = host.nodeVersion === null ? null : nodeMajorOf(host.nodeVersion);
  const hostNode = host.nodeVersion === null ? 'no Node' : `Node ${host.nodeVersion.trim().replace(/^v/, '')}`;
  const has = `${hostNode} on ${hostPlatform}/${hostArch}`;

  if (hostPlatform !== bundle.platform || hostArch !== bundle.arch) {
    throw new SlipwayError('BUNDLE_INCOMPATIBLE', `the slipway bundle needs ${needed}; the host has ${has}`, {
      hint: `run \`slipway setup\` from a machine of the host's kind (${hostPlatform}/${hostArch}, e.g. a CI runner), or install slipway on the host with npm and Node ${bundle.nodeMajor}`,
      details: [`bundle: slipway ${bundle.version}, ${needed}`, `host: ${has}`],
    });
  }
  if (hostMajor !== bundle.nodeMajor) {
    throw new SlipwayError('BUNDLE_INCOMPATIBLE', `the slipway bundle needs ${needed}; the host has ${has}`, {
      hint:
        hostMajor === null
          ? `install Node ${bundle.nodeMajor} on the host (node must be on the SSH user's PATH), then run setup again`
          : `install Node ${bundle.nodeMajor} on the host (node must be on the SSH user's PATH), or run \`slipway setup\` with Node ${hostMajor} here, then run setup again`,
      details: [`bundle: slipway ${bundle.version}, ${needed}`, `host: ${has}`],
    });
  }
}

function nodeMajorOf(version: string): number | null {
  const match = /^\s*v?(\d+)\./.exec(version) ?? /^\s*v?(\d+)\s*$/.exec(version);
  return match ? Number(match[1]) : null;
}

/** Node's process.arch names for `uname -m` spellings. */
function normalizeArch(arch: string): string {
  const value = arch.trim().toLowerCase();
  const aliases: Record<string, string> = { x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64', armv7l: 'arm', armv6l: 'arm', i386: 'ia32', i686: 'ia32', ppc64le: 'ppc64', s390x: 's390x' };
  return aliases[value] ?? value;
}

/** Node's process.platform names for `uname -s` spellings. */
function normalizePlatform(platform: string): string {
  const value = platform.trim().toLowerCase();
  return value === 'sunos' ? 'sunos' : value.startsWith('mingw') || value.startsWith('msys') || value.startsWith('cygwin') ? 'win32' : value;
}
