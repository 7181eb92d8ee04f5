/**
 * Bot storage in the product's database (SQLite or PostgreSQL), so several servers share it: the `BotRepository` of
 * `bot-repository.ts` over the tables of migration 0010, each record one row with its JSON:
 *     bots               the bot and its current config
 *     bot_pairs          current pairs (latest version of each), in the order they were first written
 *     bot_pair_history   every change of every pair, numbered per bot
 *     bot_versions       frozen versions (config + approved pairs)
 *     bot_reports        test reports, with the person's approval when given
 *     bot_approvals      every approval decision and publication, numbered per bot
 * Guarantees: the behaviour of the file repository it replaces (same orders, the same 404 for a name that cannot
 * be stored, null for what is absent); a change of pairs writes its history and the pairs in one transaction, so
 * the history is never behind the state it describes. Nothing is cached in the process.
 *
 * `importBotsFolder` moves an older data folder's `bots/` into the tables on start: each bot in one transaction,
 * skipped when its row exists; once every one is committed the folder is renamed `bots.imported-json/` (a backup).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import { isUniqueViolation, retryOnUniqueViolation } from '../store/store.ts';
import type { Bot, BotVersion, QaPair, TestReport } from './bot-types.ts';
import { FileBotRepository, SAFE_NAME, type ApprovalRecord, type BotRepository, type PairChange } from './bot-repository.ts';
import { StatusError } from '../util/status-error.ts';
import { retireImportedFolder } from '../store/legacy-folders.ts';

export interface BotTables {
  bots: { name: string; data: string };
  bot_pairs: { bot: string; id: string; ordinal: number; data: string };
  bot_pair_history: { bot: string; seq: number; pair_id: string; data: string };
  bot_versions: { bot: string; version: number; data: string };
  bot_reports: { bot: string; id: string; created_at: number; data: string };
  bot_approvals: { bot: string; seq: number; data: string };
}

type Db = Kysely<BotTables> | Transaction<BotTables>;

/** Rows per INSERT. */
const BATCH = 200;

function checkName(name: string): string {
  // a name that cannot be stored names no bot: the same 404 as an unknown one
  if (!SAFE_NAME.test(name)) throw new StatusError(404, `invalid bot name: ${JSON.stringify(name)} (letters, digits, _ . -; up to 64)`, { code: 'not_found' });
  return name;
}

async function insertBatched<T extends keyof BotTables>(db: Db, table: T, rows: BotTables[T][]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) await db.insertInto(table).values(rows.slice(i, i + BATCH) as never).execute();
}

async function maxOf(db: Db, table: 'bot_pair_history' | 'bot_approvals', bot: string): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.max('seq').as('m')).where('bot', '=', bot).executeTakeFirst();
  return Number(r?.m ?? 0);
}

const parse = <T>(rows: { data: string }[]): T[] => rows.map((r) => JSON.parse(r.data) as T);

export class TableBotRepository implements BotRepository {
  constructor(private readonly db: Kysely<BotTables>) {}

  async listBots(): Promise<Bot[]> {
    const rows = await this.db.selectFrom('bots').select(['name', 'data']).execute();
    return parse<Bot>(rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }

  async getBot(name: string): Promise<Bot | null> {
    const r = await this.db.selectFrom('bots').select('data').where('name', '=', checkName(name)).executeTakeFirst();
    return r ? (JSON.parse(r.data) as Bot) : null;
  }

  async putBot(bot: Bot): Promise<void> {
    const data = JSON.stringify(bot);
    await this.db.insertInto('bots').values({ name: checkName(bot.name), data }).onConflict((oc) => oc.column('name').doUpdateSet({ data })).execute();
  }

  async deleteBot(name: string): Promise<void> {
    checkName(name);
    await this.db.transaction().execute(async (tx) => {
      for (const t of ['bot_approvals', 'bot_reports', 'bot_versions', 'bot_pair_history', 'bot_pairs', 'bots'] as const) {
        await (t === 'bots' ? tx.deleteFrom(t).where('name', '=', name) : tx.deleteFrom(t).where('bot', '=', name)).execute();
      }
    });
  }

  async listPairs(bot: string): Promise<QaPair[]> {
    return parse<QaPair>(await this.db.selectFrom('bot_pairs').select('data').where('bot', '=', checkName(bot)).orderBy('ordinal').execute());
  }

  async putPairs(bot: string, changes: PairChange[]): Promise<void> {
    checkName(bot);
    if (!changes.length) return;
    await retryOnUniqueViolation(() => this.db.transaction().execute(async (tx) => {
      // 1. history first, 2. then the pairs: one transaction
      const first = await maxOf(tx, 'bot_pair_history', bot) + 1;
      await insertBatched(tx, 'bot_pair_history', changes.map((c, i) => ({ bot, seq: first + i, pair_id: c.pair.id, data: JSON.stringify(c) })));
      const last = await tx.selectFrom('bot_pairs').select((eb) => eb.fn.max('ordinal').as('m')).where('bot', '=', bot).executeTakeFirst();
      let ordinal = Number(last?.m ?? 0);
      for (const c of changes) {
        if (c.action === 'delete') {
          await tx.deleteFrom('bot_pairs').where('bot', '=', bot).where('id', '=', c.pair.id).execute();
          continue;
        }
        const data = JSON.stringify(c.pair);
        const r = await tx.updateTable('bot_pairs').set({ data }).where('bot', '=', bot).where('id', '=', c.pair.id).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) await tx.insertInto('bot_pairs').values({ bot, id: c.pair.id, ordinal: ++ordinal, data }).execute();
      }
    }));
  }

  async pairHistory(bot: string, pairId: string): Promise<PairChange[]> {
    return parse<PairChange>(await this.db.selectFrom('bot_pair_history').select('data').where('bot', '=', checkName(bot)).where('pair_id', '=', pairId).orderBy('seq').execute());
  }

  async listVersions(bot: string): Promise<BotVersion[]> {
    return parse<BotVersion>(await this.db.selectFrom('bot_versions').select('data').where('bot', '=', checkName(bot)).orderBy('version').execute());
  }

  async getVersion(bot: string, version: number): Promise<BotVersion | null> {
    checkName(bot);
    if (!Number.isInteger(version) || version < 1) return null;
    const r = await this.db.selectFrom('bot_versions').select('data').where('bot', '=', bot).where('version', '=', version).executeTakeFirst();
    return r ? (JSON.parse(r.data) as BotVersion) : null;
  }

  async putVersion(v: BotVersion): Promise<void> {
    const data = JSON.stringify(v);
    await this.db.insertInto('bot_versions').values({ bot: checkName(v.bot), version: v.version, data })
      .onConflict((oc) => oc.columns(['bot', 'version']).doUpdateSet({ data })).execute();
  }

  async listReports(bot: string): Promise<TestReport[]> {
    return parse<TestReport>(await this.db.selectFrom('bot_reports').select('data').where('bot', '=', checkName(bot)).orderBy('created_at').orderBy('id').execute());
  }

  async getReport(bot: string, id: string): Promise<TestReport | null> {
    checkName(bot);
    if (!SAFE_NAME.test(id)) return null;
    const r = await this.db.selectFrom('bot_reports').select('data').where('bot', '=', bot).where('id', '=', id).executeTakeFirst();
    return r ? (JSON.parse(r.data) as TestReport) : null;
  }

  async putReport(r: TestReport): Promise<void> {
    const data = JSON.stringify(r);
    await this.db.insertInto('bot_reports').values({ bot: checkName(r.bot), id: r.id, created_at: r.createdAt, data })
      .onConflict((oc) => oc.columns(['bot', 'id']).doUpdateSet({ created_at: r.createdAt, data })).execute();
  }

  async appendApproval(bot: string, a: ApprovalRecord): Promise<void> {
    checkName(bot);
    await retryOnUniqueViolation(() => this.db.transaction().execute(async (tx) => {
      await tx.insertInto('bot_approvals').values({ bot, seq: await maxOf(tx, 'bot_approvals', bot) + 1, data: JSON.stringify(a) }).execute();
    }));
  }

  async listApprovals(bot: string): Promise<ApprovalRecord[]> {
    return parse<ApprovalRecord>(await this.db.selectFrom('bot_approvals').select('data').where('bot', '=', checkName(bot)).orderBy('seq').execute());
  }

  /** Copies one bot from the file layout in one transaction; false when a bot of that name is here already. */
  async importBot(from: FileBotRepository, bot: Bot): Promise<boolean> {
    if (await this.getBot(bot.name)) return false;
    const pairs = await from.listPairs(bot.name);
    const history = await from.allPairHistory(bot.name);
    const versions = await from.listVersions(bot.name);
    const reports = await from.listReports(bot.name);
    const approvals = await from.listApprovals(bot.name);
    try {
      await this.db.transaction().execute(async (tx) => {
        await tx.insertInto('bots').values({ name: bot.name, data: JSON.stringify(bot) }).execute();
        await insertBatched(tx, 'bot_pairs', pairs.map((p, i) => ({ bot: bot.name, id: p.id, ordinal: i + 1, data: JSON.stringify(p) })));
        await insertBatched(tx, 'bot_pair_history', history.map((c, i) => ({ bot: bot.name, seq: i + 1, pair_id: c.pair.id, data: JSON.stringify(c) })));
        await insertBatched(tx, 'bot_versions', versions.map((v) => ({ bot: bot.name, version: v.version, data: JSON.stringify(v) })));
        await insertBatched(tx, 'bot_reports', reports.map((r) => ({ bot: bot.name, id: r.id, created_at: r.createdAt, data: JSON.stringify(r) })));
        await insertBatched(tx, 'bot_approvals', approvals.map((a, i) => ({ bot: bot.name, seq: i + 1, data: JSON.stringify(a) })));
      });
    } catch (e) {
      if (isUniqueViolation(e)) return false; // another server imported it first
      throw e;
    }
    return true;
  }
}

/**
 * Imports `<dataDir>/bots/` (the file layout) into `repo` and renames it `bots.imported-json/` once every bot is
 * committed. Returns the names imported now; no folder returns [].
 */
export async function importBotsFolder(dataDir: string, repo: TableBotRepository): Promise<string[]> {
  const folder = join(dataDir, 'bots');
  if (!existsSync(folder)) return [];
  const files = new FileBotRepository(dataDir);
  const done: string[] = [];
  for (const bot of await files.listBots()) if (await repo.importBot(files, bot)) done.push(bot.name);
  retireImportedFolder(dataDir, 'bots');
  return done;
}
