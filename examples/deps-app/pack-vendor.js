#!/usr/bin/env node
// Rebuilds the tarballs in base/vendor/ from vendor-src/ with `npm pack` (its output
// is byte-for-byte reproducible), then prints their integrity so that package-lock.json
// can be checked. banner bundles textcase 2 (bundleDependencies), so the app's tree has
// a nested node_modules beside the hoisted textcase 1.
//
//   node examples/deps-app/pack-vendor.js
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'vendor-src');
const dest = path.join(here, 'base', 'vendor');
const stage = mkdtempSync(path.join(os.tmpdir(), 'deps-app-pack-'));
try {
  const pack = (dir) => execFileSync('npm', ['pack', dir, '--pack-destination', dest, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const banner = path.join(stage, 'banner');
  cpSync(path.join(src, 'banner'), banner, { recursive: true });
  mkdirSync(path.join(banner, 'node_modules'));
  cpSync(path.join(src, 'textcase-v2'), path.join(banner, 'node_modules', 'textcase'), { recursive: true });
  for (const dir of [path.join(src, 'textcase'), path.join(src, 'greeting'), banner]) {
    for (const packed of JSON.parse(pack(dir))) console.log(`${packed.filename}  ${packed.integrity}`);
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
