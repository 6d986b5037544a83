import path from 'node:path';
import { slipwayHome } from '../paths.js';
import { writeKeyPair } from '../release/sign.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface KeysGenerateOptions {
  name: string;
  dir?: string;
  json?: boolean;
}

export default async function keysGenerate(options: KeysGenerateOptions, ctx: CliContext): Promise<CommandResult> {
  const dir = options.dir ? path.resolve(ctx.cwd, options.dir) : path.join(slipwayHome(), 'keys');
  const pair = await writeKeyPair(dir, options.name);
  if (options.json) return jsonOutput(pair);
  return {
    stdout: [
      `key ${pair.keyId}`,
      `  private  ${pair.privateKey}  (mode 0600: keep it on the build machine only)`,
      `  public   ${pair.publicKey}`,
      'Sign builds:        signing: { key: <private key path> } in slipway.yml, or `slipway build --key <path>`',
      'Require signatures: require_signature: true and public_keys: [<public key path>] in the environment',
    ].join('\n'),
  };
}
