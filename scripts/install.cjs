#!/usr/bin/env node
// npm's install step for worm-run's native addon. A prebuild for this platform (prebuilds/,
// made by `prebuildify --napi --strip` when the package is packed) or an earlier local build is
// used when it loads here and is of this version's addon ABI; nothing is printed then. Otherwise
// the addon is built from source with node-gyp, quietly: its output is printed only when the
// build fails, followed by one line saying what is missing. `npm install --build-from-source`
// builds even when a prebuild would do.
'use strict';
const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

/** The addon ABI this version's JavaScript expects (kAddonAbi in native/addon.cc). */
function wantedAbi() {
  const m = /kAddonAbi = (\d+);/.exec(readFileSync(join(root, 'native/addon.cc'), 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/** The path of an addon that loads here and is of the wanted ABI, or null. */
function usableAddon() {
  let path;
  try {
    path = require('node-gyp-build').resolve(root);
  } catch {
    return null; // none for this platform
  }
  try {
    return require(path).abi === wantedAbi() ? path : null;
  } catch {
    return null; // built for another libc, or damaged
  }
}

/** node-gyp as [file, ...args]: the checkout's own, else the one npm runs scripts with, else PATH's. */
function nodeGyp() {
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    // not a development checkout
  }
  const npmGyp = process.env.npm_config_node_gyp;
  if (npmGyp) return /\.[cm]?js$/.test(npmGyp) ? [process.execPath, npmGyp] : [npmGyp];
  return ['node-gyp'];
}

function main() {
  const fromSource = process.env.npm_config_build_from_source === 'true';
  if (!fromSource && usableAddon()) return 0;
  const [file, ...args] = nodeGyp();
  const r = spawnSync(file, [...args, 'rebuild'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status === 0 && usableAddon()) {
    process.stderr.write(`worm-run: built the native addon from source (${fromSource ? 'asked for' : `no prebuild for ${process.platform}-${process.arch} here`})\n`);
    return 0;
  }
  process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  const why = r.error ? `cannot run node-gyp (${r.error.message})`
    : r.status === 0 ? 'node-gyp succeeded but the addon does not load'
    : `node-gyp failed (status ${r.status ?? r.signal})`;
  const noPrebuild = fromSource ? '' : ` (this package has no prebuild for ${process.platform}-${process.arch})`;
  process.stderr.write(`worm-run: cannot build the native addon: ${why}; building needs python3, make and a C++ compiler${noPrebuild}\n`);
  return 1;
}

process.exitCode = main();
