/** A bot service over a fresh temporary data folder (no shared data needed). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BotService } from '../../src/bots/bot-service.ts';
import { FileBotRepository } from '../../src/bots/bot-repository.ts';
import { KnowledgeService } from '../../src/knowledge/knowledge-service.ts';
import { FileKnowledgeRepository } from '../../src/knowledge/knowledge-repository.ts';

export function tempService(prefix = 'mf-bots-'): { dir: string; bots: BotService } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, bots: new BotService(new FileBotRepository(dir), new KnowledgeService(new FileKnowledgeRepository(dir))) };
}
