// Slots' and tests' servers get ports outside the OS's ephemeral range, so an outgoing
// connection cannot take a port between the moment it is chosen and the moment the
// server listens on it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { findFreePort, listeningRange } from '../../src/runtime/ports.js';

test('listeningRange sits below the ephemeral range, or above it when below is too narrow, or nowhere', () => {
  assert.deepEqual(listeningRange({ low: 32768, high: 60999 }), { low: 10000, high: 32767 });
  assert.deepEqual(listeningRange({ low: 1024, high: 40000 }), { low: 40001, high: 65535 });
  assert.equal(listeningRange({ low: 1024, high: 65000 }), undefined);
});

test('findFreePort gives distinct ports outside the ephemeral range', async () => {
  let ephemeral: { low: number; high: number } | undefined;
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    ephemeral = { low: low!, high: high! };
  } catch {
    ephemeral = undefined;
  }
  const ports = await Promise.all(Array.from({ length: 20 }, () => findFreePort()));
  assert.equal(new Set(ports).size, ports.length, `a port was given twice: ${ports.join(' ')}`);
  if (ephemeral !== undefined && listeningRange(ephemeral) !== undefined) {
    for (const port of ports) assert.ok(port < ephemeral.low || port > ephemeral.high, `${port} is in the ephemeral range ${ephemeral.low}-${ephemeral.high}`);
  }
});
