#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): the CLI is one bundled file, loaded without the ESM loader.
require('../dist/worm-run.cjs');
