/**
 * The accessories as one environment runs them: slipway.yml's `accessories`, with what
 * `environments.<env>.accessories` changes for it (a port of its own, env merged over, a command).
 */
import type { AccessoryConfig, EnvironmentConfig } from './types.js';

export function environmentAccessories(accessories: readonly AccessoryConfig[], environment: Pick<EnvironmentConfig, 'accessoryOverrides'>): AccessoryConfig[] {
  const overrides = environment.accessoryOverrides ?? {};
  return accessories.map((accessory) => {
    const override = overrides[accessory.name];
    if (override === undefined) return accessory;
    return {
      ...accessory,
      env: { ...accessory.env, ...override.env },
      ...(override.port === undefined ? {} : { port: override.port }),
      ...(override.command === undefined ? {} : { command: override.command }),
    };
  });
}
