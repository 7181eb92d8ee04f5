/** The `modelfab` command: builds the program and runs it; any error is one line on stderr and exit status 1. */
import { buildProgram } from './program.ts';

buildProgram().parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`modelfab: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
