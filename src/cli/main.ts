/**
 * The `modelfab` command. One file per command group registers itself on the program; this file only wires them.
 */
import { Command } from 'commander';
import { registerDemo } from './demo.ts';
import { registerInfo } from './info.ts';
import { registerBench } from './bench.ts';
import { registerKnowledge } from './knowledge.ts';
import { registerDatasets } from './datasets.ts';
import { registerServe } from './serve.ts';
import { registerFactory } from './factory.ts';
import { registerBots } from './bots.ts';
import { registerControl } from './control.ts';
import { registerDeploy } from './deploy.ts'; import { registerKeys } from './keys.ts'; import { registerChat } from './chat.ts';

const program = new Command();
program
  .name('modelfab')
  .description('A self-hosted model factory: train, benchmark, deploy and control your own LLMs on your own machines.')
  .version('0.1.0');
registerDemo(program);
registerInfo(program);
registerBench(program);
registerKnowledge(program);
registerDatasets(program);
registerServe(program);
registerFactory(program);
registerBots(program);
registerDeploy(program); registerKeys(program); registerChat(program);
registerControl(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`modelfab: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
