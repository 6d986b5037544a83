import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostArgv } from '../../src/cli/main.js';

test('a command forwarded to hosts keeps the user\'s arguments but not this machine\'s --config or --host', () => {
  assert.deepEqual(hostArgv(['backups', 'production', '--host', 'app1', '--json', '--config', 'fleet.yml']), ['backups', 'production', '--json']);
  assert.deepEqual(hostArgv(['-c', 'x.yml', 'logs', 'production', '-n', '20', '--host=auth', '--config=y.yml', '--no-color']), ['logs', 'production', '-n', '20']);
  // After --, everything belongs to the command exec runs, --config included.
  assert.deepEqual(hostArgv(['exec', 'production', '--host', 'a', '--', 'tool', '--config', 'its-own.yml', '--host', 'h']), ['exec', 'production', '--', 'tool', '--config', 'its-own.yml', '--host', 'h']);
});
