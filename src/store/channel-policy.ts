/**
 * What may move a channel: the policy every command that points an environment at a
 * release (publish, promote, channel set) applies, and the pointer it writes.
 */
import type { EnvironmentConfig } from '../config/types.js';
import { releaseUnsigned } from '../release/sign.js';
import type { ChannelPointer } from './channels.js';
import type { ReleaseInfo } from './releases.js';

/** A release may only be pointed at for an environment that would accept it: RELEASE_UNSIGNED otherwise. */
export function checkSignaturePolicy(environment: Pick<EnvironmentConfig, 'name' | 'requireSignature'>, release: Pick<ReleaseInfo, 'id' | 'version' | 'signed'>): void {
  if (environment.requireSignature && !release.signed) {
    throw releaseUnsigned({ id: release.id, version: release.version, environment: environment.name });
  }
}

/** The pointer that moves `environment`'s channel to `release`, now. */
export function channelPointer(o: { environment: string; release: Pick<ReleaseInfo, 'id' | 'version'>; who: string; why: string; expires?: string }): ChannelPointer {
  return {
    environment: o.environment,
    releaseId: o.release.id,
    version: o.release.version,
    who: o.who,
    when: new Date().toISOString(),
    why: o.why,
    ...(o.expires === undefined ? {} : { expires: o.expires }),
  };
}
