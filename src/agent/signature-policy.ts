import { promises as fs } from 'node:fs';
import path from 'node:path';
import { publicKeyUnreadable } from '../release/sign.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { SignaturePolicy } from '../host/install-release.js';

/**
 * What an update requires of a release's signature, from slipway.yml: whether one
 * is required, and the public keys (paths relative to the project) that may have made it.
 * Read at each update, so that a key added to the project counts without a restart.
 */
export async function readSignaturePolicy(environment: EnvironmentConfig, projectDir: string): Promise<SignaturePolicy> {
  const publicKeysPem = await Promise.all(
    environment.publicKeys.map(async (file) => {
      const full = path.resolve(projectDir, file);
      try {
        return await fs.readFile(full, 'utf8');
      } catch (error) {
        throw publicKeyUnreadable({ file: full, environment: environment.name, cause: error });
      }
    }),
  );
  return { required: environment.requireSignature, publicKeysPem };
}
