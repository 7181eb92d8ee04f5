/**
 * What the local commands (serve, demo, bench) share: the data folder option, the same name and default everywhere:
 * --data, default $MODELFAB_DATA or ./modelfab-data.
 */
import type { Command } from 'commander';

export const defaultData = (): string => process.env.MODELFAB_DATA ?? './modelfab-data';

export function withData(cmd: Command, what = 'SQLite database, datasets, models, jobs'): Command {
  return cmd.option('-d, --data <dir>', `data folder: ${what}; $MODELFAB_DATA sets the default`, defaultData());
}
