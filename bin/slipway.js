#!/usr/bin/env node
// The CLI runs from its bundle (dist/bundle/cli, made by scripts/bundle-cli.js: one third
// less CPU per start); from the compiled modules in dist/src when no bundle was made.
// `slipway rollback <env> --yes` may go to the agent before the rest of the CLI loads
// (src/cli/rollback-fast.ts, bundled whole as rollback-early.js: only when its cache is fresh;
// it never throws).
import { existsSync } from 'node:fs';

const bundled = existsSync(new URL('../dist/bundle/cli/main.js', import.meta.url));
const dir = bundled ? '../dist/bundle/cli' : '../dist/src/cli';
const argv = process.argv;
const early = argv[2] === 'rollback' ? import(bundled ? `${dir}/rollback-early.js` : `${dir}/rollback-fast.js`).then((fast) => fast.sendEarly(argv.slice(3), process.env, process.cwd()), () => undefined) : undefined;
Promise.resolve(early)
  .then(() => import(`${dir}/main.js`))
  .then((cli) => cli.main(argv));
