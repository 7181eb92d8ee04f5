/** A bot service over a fresh temporary data folder, and a five-article statute to build bots from (no shared data needed). */
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

/** A five-article consumer statute, small enough to train a bot's retriever in a test. */
export const SHOP_STATUTE = [
  '# 示例消费法', '',
  '第一条 消费者网购商品，有权自收到商品之日起七日内退货，且无需说明理由。', '',
  '第二条 经营者应当保证其提供的商品或者服务符合保障人身、财产安全的要求。', '',
  '第三条 经营者不得搜查消费者的身体及其携带的物品，不得侵犯消费者的人身自由。', '',
  '第四条 经营者提供商品或者服务有欺诈行为的，应当增加赔偿消费者的损失，增加赔偿的金额为价款的三倍。', '',
  '第五条 消费者因商品缺陷造成人身损害的，可以向销售者要求赔偿，也可以向生产者要求赔偿。', '',
].join('\n');
