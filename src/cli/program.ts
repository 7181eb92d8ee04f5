/**
 * The `modelfab` program: one file per command group registers itself; this file only wires them, so that tests can
 * build the real program (every command and option) without running anything.
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
import { registerDeploy } from './deploy.ts';
import { registerKeys } from './keys.ts';
import { registerChat } from './chat.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('modelfab')
    .description('A self-hosted model factory: train, benchmark, deploy and control your own LLMs on your own machines.')
    .version('0.1.0')
    // program options only before the command: `bots ask NAME --version 2` is the command's own --version
    .enablePositionalOptions()
    .addHelpText('after', `
Commands that read or change what the server holds (keys, datasets, experiments, jobs, models, deployments, routes,
knowledge, bots, guard, requests, feedback, chat) are clients of one running \`modelfab serve\`: they take
--url (default $MODELFAB_URL or http://127.0.0.1:8080) and --api-key (default $MODELFAB_API_KEY).
Commands marked "local" (serve, demo, info, bench, guard check) work on this machine's files; those that use a
data folder take --data (default $MODELFAB_DATA or ./modelfab-data).`);
  registerDemo(program);
  registerInfo(program);
  registerBench(program);
  registerKnowledge(program);
  registerDatasets(program);
  registerServe(program);
  registerFactory(program);
  registerBots(program);
  registerDeploy(program);
  registerKeys(program);
  registerChat(program);
  registerControl(program);
  return program;
}

