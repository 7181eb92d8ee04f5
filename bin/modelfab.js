#!/usr/bin/env node
// The modelfab command: runs the TypeScript sources through tsx (a dependency), so no build step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
