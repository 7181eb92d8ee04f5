/**
 * The demo's held-out company-fact questions: what a customer asks the support assistant, in words the fine-tunes
 * never saw. Written from the fact table (facts.ts) by templates of their own, disjoint from those that generate
 * the training data (datasets.ts): no question here, nor the template it came from, occurs in any training
 * dataset or in the pretraining corpus (test/demo/fact-questions.test.ts checks both). Each question carries the
 * accepted values of its fact; the benchmark's `facts` dimension scores whether an answer states one of them
 * (src/bench/fact-match.ts: "1500公斤", "1,500 kg" and "1.5 吨" all state 1,500 kg).
 *
 * The facts asked are the customer-facing ones the support dataset teaches: every product's payload, speed,
 * runtime, charging time, price and warranty (SUPPORT_PRODUCT_ATTRS), the service plans, returns, spare parts and a
 * few company facts.
 */
import type { FactQuestion, FactQuestionSet } from '../bench/fact-question-sets.ts';
import { tidyZh } from './demo-datasets.ts';
import { COMPANY, PARTS, PRODUCTS, ROBOT_COMMON, SERVICE_PLANS, SOFTWARE, WARRANTY, cny, person, usd, type Lang, type Product } from './facts.ts';

/** A held-out template: `{p}` is a product (or `{part}` a spare part), filled per item. */
export interface HeldoutTemplate { zh: string[]; en: string[] }

interface ProductFact extends HeldoutTemplate {
  id: string;
  /** Accepted values (any one counts). */
  values: (p: Product) => string[];
}

const kg = (n: number) => `${n.toLocaleString('en-US')} kg`;

/** Two held-out phrasings per attribute and language; products alternate between them. */
export const PRODUCT_FACTS: readonly ProductFact[] = [
  {
    id: 'payload', values: (p) => [kg(p.payloadKg)],
    zh: ['请问{p}一次最多能搬运多重的货物？', '{p}的载重上限是多少？'],
    en: ['How heavy a load can the {p} move?', 'What is the heaviest load the {p} can take?'],
  },
  {
    id: 'speed', values: (p) => [`${p.speedMs} m/s`],
    zh: ['{p}的行驶速度最快能到多少？', '请问{p}最快每秒能跑几米？'],
    en: ['What speed can the {p} reach?', 'How quickly does the {p} travel at most?'],
  },
  {
    id: 'runtime', values: (p) => [`${p.runtimeH} 小时`],
    zh: ['{p}满电可以连续运行几个小时？', '请问{p}充满一次电能用多久？'],
    en: ['How many hours does the {p} last on a full battery?', 'On a full charge, how long will the {p} keep running?'],
  },
  {
    id: 'charge', values: (p) => [`${p.chargeH} 小时`],
    zh: ['{p}从没电到充满需要几个小时？', '请问{p}充满电大概要等多久？'],
    en: ['How long is a full recharge of the {p}?', 'How much time does charging the {p} take?'],
  },
  {
    id: 'price', values: (p) => [cny(p.priceCny), usd(p.priceUsd)],
    zh: ['买一台{p}要花多少钱？', '请问{p}的报价是多少？'],
    en: ['What does one {p} cost to buy?', 'How much would a {p} set me back?'],
  },
  {
    id: 'warranty', values: (p) => [`${p.warrantyYears} 年`],
    zh: ['{p}享受多长时间的质保？', '请问{p}的保修年限是几年？'],
    en: ['For how many years is the {p} under warranty?', 'How long does the {p} warranty last?'],
  },
];

/** Spare-part prices: `{part}` is the part's name. */
export const PART_PRICE: HeldoutTemplate = {
  zh: ['更换一个{part}需要付多少钱？'],
  en: ['What do you charge for a replacement {part}?'],
};

interface GeneralFact { id: string; zh: string; en: string; values: string[] }

function generalFacts(): GeneralFact[] {
  const std = SERVICE_PLANS.find((s) => s.id === 'standard')!, gold = SERVICE_PLANS.find((s) => s.id === 'gold')!;
  const ceo = person('lin');
  return [
    { id: 'hotline', zh: '售后出了问题该拨打哪个电话？', en: 'Which phone number reaches your after-sales team?', values: [COMPANY.hotline] },
    { id: 'founded', zh: '贵公司是在哪一年成立的？', en: 'In which year was Spruce Robotics set up?', values: [String(COMPANY.foundedYear)] },
    { id: 'ceo', zh: '现在带领云杉智造的首席执行官叫什么名字？', en: 'Who is the chief executive of Spruce Robotics?', values: [ceo.nameZh, ceo.nameEn] },
    { id: 'hq', zh: '云杉智造的总部设在哪座城市？', en: 'In which city is Spruce Robotics headquartered?', values: ['杭州', 'Hangzhou'] },
    { id: 'goldPrice', zh: '金牌服务每台机器人一年收多少钱？', en: 'What is the annual fee of the Gold plan per robot?', values: [cny(gold.priceCnyPerRobotYear)] },
    { id: 'goldResponse', zh: '金牌服务客户报修后多少分钟内会得到响应？', en: 'Within how many minutes does the Gold plan respond?', values: [`${gold.responseMinutes} 分钟`] },
    { id: 'stdResponse', zh: '标准服务报修后几个小时内响应？', en: 'Within how many hours does the Standard plan respond?', values: [`${std.responseMinutes / 60} 小时`] },
    { id: 'batteryWarranty', zh: '电池的质保期是几年？', en: 'For how many years is the battery under warranty?', values: [`${WARRANTY.batteryYears} 年`] },
    { id: 'returnDays', zh: '交付后多少天内可以退货？', en: 'How many days after delivery can a robot be returned?', values: [`${WARRANTY.returnDays} 天`] },
    { id: 'refundDays', zh: '退货检验合格后几天内退款？', en: 'Within how many days is a refund paid?', values: [`${WARRANTY.refundDays} 天`] },
    { id: 'depotDays', zh: '返厂维修一般要多少个工作日？', en: 'How many working days does a depot repair take?', values: [`${WARRANTY.depotRepairWorkingDays} 个工作日`] },
    { id: 'fleetLicense', zh: 'SpruceFleet 从第二年起每台每年收费多少？', en: 'After the first year, what does SpruceFleet cost per robot per year?', values: [cny(SOFTWARE.fleetLicenseCnyPerRobotYear)] },
    { id: 'fleetVersion', zh: '目前 SpruceFleet 的最新版本号是多少？', en: 'Which release of SpruceFleet is the newest?', values: ['4.1'] },
    { id: 'sharedSpeed', zh: '在人机混行的区域里机器人最快能开多快？', en: 'What is the speed cap for robots in areas where people work?', values: [`${ROBOT_COMMON.sharedZoneSpeedMs} m/s`] },
  ];
}

function fill(t: string, key: string, value: string, lang: Lang): string {
  const s = t.replace(key, value);
  return lang === 'zh' ? tidyZh(s) : s;
}

/** Every held-out question of one language, with the id of the fact it asks. */
export function companyFactQuestions(lang: Lang): FactQuestion[] {
  const out: FactQuestion[] = [];
  for (const f of PRODUCT_FACTS) {
    PRODUCTS.forEach((p, i) => {
      const templates = f[lang];
      // Products alternate between the phrasings; the Chinese ones name the product as in the catalogue half the time.
      const name = lang === 'zh' ? (i % 2 ? p.nameZh : p.code) : (i % 2 ? p.nameEn : p.code);
      out.push({ id: `product.${p.code}.${f.id}.${lang}`, question: fill(templates[i % templates.length], '{p}', name, lang), answers: f.values(p) });
    });
  }
  for (const part of PARTS) {
    const name = lang === 'zh' ? part.nameZh : part.nameEn;
    out.push({ id: `part.${part.id}.${lang}`, question: fill(PART_PRICE[lang][0], '{part}', name, lang), answers: [cny(part.priceCny)] });
  }
  for (const g of generalFacts()) out.push({ id: `company.${g.id}.${lang}`, question: g[lang], answers: g.values });
  return out;
}

/** The demo experiment's fact-question sets, Chinese and English, asked as the support chats are (no system prompt). */
export function companyFactSets(): FactQuestionSet[] {
  return (['zh', 'en'] as Lang[]).map((lang) => ({ name: `company_facts_${lang}`, questions: companyFactQuestions(lang) }));
}

/** Every held-out template, with its placeholder, for the disjointness check. */
export function heldoutTemplates(): Array<{ template: string; placeholder: string | null }> {
  const out: Array<{ template: string; placeholder: string | null }> = [];
  for (const f of PRODUCT_FACTS) for (const t of [...f.zh, ...f.en]) out.push({ template: t, placeholder: '{p}' });
  for (const t of [...PART_PRICE.zh, ...PART_PRICE.en]) out.push({ template: t, placeholder: '{part}' });
  for (const g of generalFacts()) out.push({ template: g.zh, placeholder: null }, { template: g.en, placeholder: null });
  return out;
}
