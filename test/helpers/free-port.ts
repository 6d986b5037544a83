/** A TCP port for a test's server: chosen as slipway chooses its slots' ports, outside the OS's ephemeral range. */
import { findFreePort } from '../../src/runtime/ports.js';

/** A port nobody listens on right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return findFreePort('127.0.0.1');
}
