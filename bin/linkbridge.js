#!/usr/bin/env node
// The package's command line (same as `npm run cli --`); needs `npm run build` first.
require('../dist/src/cli.js').cliMain();
