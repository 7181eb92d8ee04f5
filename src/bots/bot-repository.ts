/**
 * Bot storage. Owns the `BotRepository` interface (bots, pairs with review state and their append-only history,
 * frozen versions, test reports with approvals) and its local-files implementation `FileBotRepository`:
 *     <data>/bots/<bot>/bot.json                the bot and its current config
 *     <data>/bots/<bot>/pairs.json              current pairs (latest version of each)
 *     <data>/bots/<bot>/pairs-history.jsonl     every change of every pair, appended (fsync'd) before pairs.json
 *     <data>/bots/<bot>/versions/<n>.json       frozen versions (config + approved pairs)
 *     <data>/bots/<bot>/reports/<id>.json       test reports, with the person's approval when given
 *     <data>/bots/<bot>/approvals.jsonl         every approval decision and publication, appended
 * Guarantees: whole-file writes are atomic (util/atomic-write.ts); history lines are written before the state they
 * describe; a torn last history line is ignored on read; names are validated before they touch the file system.
 * The server keeps bots in the database (`bot-tables.ts`, shared by several servers); this layout is what older data
 * folders hold, imported from on start, and a store for tests and tools over a plain folder.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { Bot, BotVersion, QaPair, TestReport } from './bot-types.ts';
import { StatusError } from '../util/status-error.ts';

export interface PairChange { at: number; actor: string; action: 'create' | 'edit' | 'approve' | 'reject' | 'reset' | 'delete'; pair: QaPair; note?: string }
export interface ApprovalRecord { at: number; by: string; action: 'approve-report' | 'reject-report' | 'publish' | 'unpublish'; version: number; report?: string; note?: string }

export interface BotRepository {
  listBots(): Promise<Bot[]>;
  getBot(name: string): Promise<Bot | null>;
  putBot(bot: Bot): Promise<void>;
  deleteBot(name: string): Promise<void>;

  listPairs(bot: string): Promise<QaPair[]>;
  /** Writes pairs and appends one history line per change (a 'delete' removes the pair). */
  putPairs(bot: string, changes: PairChange[]): Promise<void>;
  pairHistory(bot: string, pairId: string): Promise<PairChange[]>;

  listVersions(bot: string): Promise<BotVersion[]>;
  getVersion(bot: string, version: number): Promise<BotVersion | null>;
  putVersion(v: BotVersion): Promise<void>;

  listReports(bot: string): Promise<TestReport[]>;
  getReport(bot: string, id: string): Promise<TestReport | null>;
  putReport(r: TestReport): Promise<void>;

  appendApproval(bot: string, a: ApprovalRecord): Promise<void>;
  listApprovals(bot: string): Promise<ApprovalRecord[]>;
}

/** No bot by that name: a 404. */
export class BotNotFoundError extends StatusError {
  constructor(message: string) { super(404, message, { code: 'not_found' }); }
}

export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function appendLines(file: string, lines: string[]): void {
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, lines.join('\n') + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function readLines<T>(file: string): T[] {
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch { return []; }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try { out.push(JSON.parse(line) as T); } catch { /* torn last line after a crash */ }
  }
  return out;
}

export class FileBotRepository implements BotRepository {
  readonly root: string;
  private pairs = new Map<string, Map<string, QaPair>>();

  constructor(dataDir: string) { this.root = join(dataDir, 'bots'); }

  dir(name: string): string {
    // a name that cannot be stored names no bot: the same 404 as an unknown one
    if (!SAFE_NAME.test(name)) throw new StatusError(404, `invalid bot name: ${JSON.stringify(name)} (letters, digits, _ . -; up to 64)`, { code: 'not_found' });
    return join(this.root, name);
  }

  /** A file listed a moment ago: gone now is an error like any other. */
  private readJsonFile<T>(file: string): T {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  }

  private readJson<T>(file: string, fallback: T): T {
    try { return JSON.parse(fs.readFileSync(file, 'utf8')) as T; } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
      throw e;
    }
  }

  async listBots(): Promise<Bot[]> {
    if (!fs.existsSync(this.root)) return [];
    const out: Bot[] = [];
    for (const n of fs.readdirSync(this.root).sort()) {
      const b = this.readJson<Bot | null>(join(this.root, n, 'bot.json'), null);
      if (b) out.push(b);
    }
    return out;
  }

  async getBot(name: string): Promise<Bot | null> { return this.readJson<Bot | null>(join(this.dir(name), 'bot.json'), null); }

  async putBot(bot: Bot): Promise<void> {
    const d = this.dir(bot.name);
    fs.mkdirSync(join(d, 'versions'), { recursive: true });
    fs.mkdirSync(join(d, 'reports'), { recursive: true });
    writeFileAtomic(join(d, 'bot.json'), `${JSON.stringify(bot, null, 2)}\n`);
  }

  async deleteBot(name: string): Promise<void> {
    fs.rmSync(this.dir(name), { recursive: true, force: true });
    this.pairs.delete(name);
  }

  private pairMap(bot: string): Map<string, QaPair> {
    let m = this.pairs.get(bot);
    if (!m) {
      m = new Map(this.readJson<QaPair[]>(join(this.dir(bot), 'pairs.json'), []).map((p) => [p.id, p]));
      this.pairs.set(bot, m);
    }
    return m;
  }

  async listPairs(bot: string): Promise<QaPair[]> { return [...this.pairMap(bot).values()]; }

  async putPairs(bot: string, changes: PairChange[]): Promise<void> {
    if (!changes.length) return;
    const d = this.dir(bot);
    fs.mkdirSync(d, { recursive: true });
    appendLines(join(d, 'pairs-history.jsonl'), changes.map((c) => JSON.stringify(c)));
    const m = new Map(this.pairMap(bot));
    for (const c of changes) { if (c.action === 'delete') m.delete(c.pair.id); else m.set(c.pair.id, c.pair); }
    writeFileAtomic(join(d, 'pairs.json'), JSON.stringify([...m.values()]));
    this.pairs.set(bot, m);
  }

  async pairHistory(bot: string, pairId: string): Promise<PairChange[]> {
    return (await this.allPairHistory(bot)).filter((c) => c.pair.id === pairId);
  }

  /** Every pair's history in the order it was written (importing a folder into tables keeps that order). */
  async allPairHistory(bot: string): Promise<PairChange[]> {
    return readLines<PairChange>(join(this.dir(bot), 'pairs-history.jsonl'));
  }

  async listVersions(bot: string): Promise<BotVersion[]> {
    const d = join(this.dir(bot), 'versions');
    if (!fs.existsSync(d)) return [];
    return fs.readdirSync(d).filter((f) => /^\d+\.json$/.test(f)).map((f) => this.readJsonFile<BotVersion>(join(d, f))).sort((a, b) => a.version - b.version);
  }

  async getVersion(bot: string, version: number): Promise<BotVersion | null> {
    if (!Number.isInteger(version) || version < 1) return null;
    return this.readJson<BotVersion | null>(join(this.dir(bot), 'versions', `${version}.json`), null);
  }

  async putVersion(v: BotVersion): Promise<void> {
    const d = join(this.dir(v.bot), 'versions');
    fs.mkdirSync(d, { recursive: true });
    writeFileAtomic(join(d, `${v.version}.json`), JSON.stringify(v));
  }

  async listReports(bot: string): Promise<TestReport[]> {
    const d = join(this.dir(bot), 'reports');
    if (!fs.existsSync(d)) return [];
    return fs.readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => this.readJsonFile<TestReport>(join(d, f))).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  async getReport(bot: string, id: string): Promise<TestReport | null> {
    if (!SAFE_NAME.test(id)) return null;
    return this.readJson<TestReport | null>(join(this.dir(bot), 'reports', `${id}.json`), null);
  }

  async putReport(r: TestReport): Promise<void> {
    const d = join(this.dir(r.bot), 'reports');
    fs.mkdirSync(d, { recursive: true });
    writeFileAtomic(join(d, `${r.id}.json`), `${JSON.stringify(r, null, 2)}\n`);
  }

  async appendApproval(bot: string, a: ApprovalRecord): Promise<void> {
    const d = this.dir(bot);
    fs.mkdirSync(d, { recursive: true });
    appendLines(join(d, 'approvals.jsonl'), [JSON.stringify(a)]);
  }

  async listApprovals(bot: string): Promise<ApprovalRecord[]> { return readLines<ApprovalRecord>(join(this.dir(bot), 'approvals.jsonl')); }
}
