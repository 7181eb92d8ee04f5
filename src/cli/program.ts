/**
 * The `modelfab` program: one file per command group registers itself; this file only wires them, so that tests can
 * build the real program (every command and option) without running anything.
 */
import { Command } from 'commander';
import { registerDemo } from './demo-commands.ts';
import { registerInfo } from './info-commands.ts';
import { registerBench } from './bench-commands.ts';
import { registerKnowledge } from './knowledge-commands.ts';
import { registerDatasets } from './datasets-commands.ts';
import { registerServe } from './serve-commands.ts';
import { registerFactory } from './factory-commands.ts';
import { registerBots } from './bots-commands.ts';
import { registerControl } from './control-commands.ts';
import { registerDeploy } from './deploy-commands.ts';
import { registerKeys } from './keys-commands.ts';
import { registerChat } from './chat-commands.ts';
import { registerWriter } from './writer-commands.ts';
import { registerCoach } from './coach-commands.ts';
import { registerDb } from './db-commands.ts';

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
knowledge, bots, guard, requests, feedback, chat, writer, coach) are clients of one running \`modelfab serve\`: they take
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
  registerWriter(program);
  registerCoach(program);
  registerDb(program);
  return program;
}

