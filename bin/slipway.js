#!/usr/bin/env node
// `slipway rollback <env> --yes` may go to the agent before the rest of the CLI loads
// (src/cli/rollback-fast.ts: only when its cache is fresh; it never throws).
const argv = process.argv;
const early = argv[2] === 'rollback' ? import('../dist/src/cli/rollback-fast.js').then((fast) => fast.sendEarly(argv.slice(3), process.env, process.cwd()), () => undefined) : undefined;
Promise.resolve(early)
  .then(() => import('../dist/src/cli/main.js'))
  .then((cli) => cli.main(argv));
