/** orderFleet: dependency levels from host and service names, with clear errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlipwayError } from '../../src/errors.js';
import { orderFleet, type FleetHost } from '../../src/remote/fleet-order.js';
import { expectThrows } from '../helpers/expect-error.js';

const host = (name: string, dependsOn: string[] = [], services: string[] = []): FleetHost => ({ name, services, dependsOn });

/** The FLEET_ORDER refusal of `hosts`: a usage error that says what to do next. */
function fleetError(hosts: FleetHost[]): SlipwayError {
  return expectThrows(() => orderFleet(hosts), 'FLEET_ORDER', { exitCode: 2, hint: /./ });
}

test('independent hosts form one level in file order', () => {
  assert.deepEqual(orderFleet([host('c'), host('a'), host('b')]), [['c', 'a', 'b']]);
  assert.deepEqual(orderFleet([]), []);
});

test('a chain gives one host per level, whatever the file order', () => {
  const levels = orderFleet([host('web', ['api']), host('api', ['db']), host('db')]);
  assert.deepEqual(levels, [['db'], ['api'], ['web']]);
});

test('a diamond: the shared dependency first, the two sides together, the join last', () => {
  const levels = orderFleet([host('top', ['left', 'right']), host('right', ['base']), host('left', ['base']), host('base')]);
  assert.deepEqual(levels, [['base'], ['right', 'left'], ['top']]);
});

test('a host sits one level after its deepest dependency, not its shallowest', () => {
  const levels = orderFleet([host('a'), host('b', ['a']), host('c', ['a', 'b'])]);
  assert.deepEqual(levels, [['a'], ['b'], ['c']]);
});

test('a service name means every host running it, and a host listing no services runs all', () => {
  const hosts = [
    host('app1', ['auth'], ['notes']),
    host('auth-eu', [], ['auth']),
    host('app2', ['auth'], ['wiki']),
    host('auth-us', [], ['auth', 'mail']),
    host('everything', [], []),
  ];
  // `everything` runs all services, so the apps wait for it too; it depends on nothing.
  assert.deepEqual(orderFleet(hosts), [['auth-eu', 'auth-us', 'everything'], ['app1', 'app2']]);
});

test('a host name wins over the service reading: apps with no services listed still depend only on the auth host', () => {
  const levels = orderFleet([host('auth'), host('app1', ['auth']), host('app2', ['auth'])]);
  assert.deepEqual(levels, [['auth'], ['app1', 'app2']]);
});

test('a host never depends on itself through its own services', () => {
  const levels = orderFleet([host('worker', ['queue'], ['queue', 'jobs']), host('queue-b', [], ['queue'])]);
  assert.deepEqual(levels, [['queue-b'], ['worker']]);
});

test('a cycle is refused and named host by host', () => {
  const error = fleetError([host('a', ['b']), host('b', ['c']), host('c', ['a']), host('d')]);
  assert.match(error.message, /a → b → c → a/);
});

test('a two-host cycle through a service name is named', () => {
  const error = fleetError([host('auth', ['app'], ['login']), host('web', ['login'], ['app'])]);
  assert.match(error.message, /auth → web → auth/);
});

test('a host naming itself is a cycle', () => {
  const error = fleetError([host('solo', ['solo'])]);
  assert.match(error.message, /solo → solo/);
});

test('an unknown name is refused, naming it and the valid ones', () => {
  const error = fleetError([host('auth', [], ['login']), host('app', ['atuh'])]);
  assert.match(error.message, /"app" depends on "atuh"/);
  assert.match(error.hint!, /auth/);
  assert.match(error.hint!, /app/);
  assert.match(error.hint!, /login/);
});

test('a service nobody lists is unknown even when a host runs all services (a typo must not match silently)', () => {
  const error = fleetError([host('all'), host('app', ['databse'])]);
  assert.match(error.message, /databse/);
});

test('a host listed twice is refused', () => {
  const error = fleetError([host('a'), host('a')]);
  assert.match(error.message, /"a" is listed twice/);
});

test('the order is stable: the same fleet always gives the same levels', () => {
  const hosts = [host('z', ['m']), host('m'), host('k', ['m']), host('b'), host('y', ['b', 'k'])];
  const first = orderFleet(hosts);
  assert.deepEqual(first, [['m', 'b'], ['z', 'k'], ['y']]);
  for (let i = 0; i < 5; i++) assert.deepEqual(orderFleet(hosts), first);
});
