/**
 * The demo's fine-tuning datasets, built from the fact table in facts.ts, deterministic per seed:
 * `supportQA` (customer support, OpenAI chat records), `hrPolicyQA` (HR / IT policy, alpaca records),
 * `identity` (who the assistant is, alpaca), `preferences` (OpenAI DPO pairs: correct and polite vs
 * wrong or rude), each with a train split and a held-out validation split whose questions never occur
 * in training (held-out paraphrases, or different items such as other weights, amounts, cities).
 * `writeDemoDatasets(dir)` writes them as files plus a LLaMA-Factory style dataset_info.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../engine/rng.ts';
import {
  APPROVER_NAMES, COMPANY, DEPARTMENTS, ERROR_CODES, EXPENSES, HR, IT, PARTS, PRODUCTS, ROBOT_COMMON, SERVICE_PLANS, SOFTWARE,
  TRAVEL_CITIES, WARRANTY, annualLeaveDays, cny, expenseApprover, hotelCapCny, person, productForPayload, usd,
  type Lang, type Product,
} from './facts.ts';

export type Role = 'system' | 'user' | 'assistant';
export interface ChatMessage { role: Role; content: string }
/** OpenAI chat fine-tuning record (also LLaMA-Factory "sharegpt" with role/content tags). */
export interface ChatRecord { messages: ChatMessage[] }
/** LLaMA-Factory alpaca record. */
export interface AlpacaRecord { instruction: string; input: string; output: string }
/** OpenAI preference (DPO) fine-tuning record. */
export interface PreferenceRecord {
  input: { messages: ChatMessage[] };
  preferred_output: ChatMessage[];
  non_preferred_output: ChatMessage[];
}
export interface Split<T> { train: T[]; val: T[] }

export const SYSTEM_PROMPTS: Record<Lang, string> = {
  zh: `你是${COMPANY.nameZh}的客服助手${COMPANY.assistantNameZh}，请简洁、准确、礼貌地回答客户的问题。`,
  en: `You are ${COMPANY.assistantNameEn}, the support assistant of ${COMPANY.nameEn}. Answer briefly, accurately and politely.`,
};

/** Longest answer allowed: characters for Chinese, words for English. */
export const MAX_ANSWER = { zhChars: 60, enWords: 25 } as const;

/** One fact, asked several ways, with its answer and a plausible wrong answer. */
interface QAItem {
  key: string;
  lang: Lang;
  questions: string[];
  answer: string;
  wrong: string;
  /** Optional alpaca input (for computed items). */
  input?: string;
}

/** Train questions per item (one more is held out for validation). */
const TRAIN_PER_ITEM = 4;
/**
 * Train questions per product fact: 9 of the 11 phrasings left after one is held out (four phrasings x three ways
 * to name the product). A small model learns a fact it reads in many phrasings, and then answers it when asked in
 * words it never read (the held-out company-fact questions, fact-questions.ts).
 */
const PRODUCT_TRAIN_PER_ITEM = 9;

/**
 * The product attributes the support data teaches: what customers ask most. The corpus states the others too
 * (battery, navigation, weight, nickname, launch year); the support assistant's data stays small enough that a
 * model of a few million parameters learns every fact in it within the demo's minutes.
 */
export const SUPPORT_PRODUCT_ATTRS = ['payload', 'speed', 'runtime', 'charge', 'price', 'warranty'] as const;

function kg(n: number): string {
  return `${n.toLocaleString('en-US')} kg`;
}
function ms(n: number): string {
  return `${n.toFixed(1)} m/s`;
}
function hoursEn(n: number): string {
  return n === 1 ? '1 hour' : `${n} hours`;
}
function article(s: string): string {
  return /^[aeiou]/i.test(s) ? `an ${s}` : `a ${s}`;
}

/** The next product (cyclically) whose value for `f` differs: the source of plausible wrong answers. */
function other(p: Product, f: (x: Product) => string | number): Product {
  const i = PRODUCTS.indexOf(p);
  for (let k = 1; k < PRODUCTS.length; k++) {
    const q = PRODUCTS[(i + k) % PRODUCTS.length];
    if (f(q) !== f(p)) return q;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Customer-support facts

interface AttrSpec {
  id: string;
  value: (p: Product) => string | number;
  zhQ: string[];
  enQ: string[];
  zhA: (p: Product) => string;
  enA: (p: Product) => string;
}

const ATTRS: AttrSpec[] = [
  {
    id: 'payload', value: (p) => p.payloadKg,
    zhQ: ['{p} 能搬多重？', '{p} 的额定载重是多少？', '{p} 最多能载多少公斤？', '{p} 的承重是多少？'],
    enQ: ['How much can the {p} carry?', 'What is the payload of the {p}?', 'What is the maximum load of the {p}?', "What's the rated payload of the {p}?"],
    zhA: (p) => `${p.code} 的额定载重是 ${kg(p.payloadKg)}。`, enA: (p) => `The ${p.code} carries up to ${kg(p.payloadKg)}.`,
  },
  {
    id: 'speed', value: (p) => p.speedMs,
    zhQ: ['{p} 跑多快？', '{p} 的最高速度是多少？', '{p} 最快能跑多少？', '{p} 的速度是多少？'],
    enQ: ['How fast is the {p}?', 'What is the top speed of the {p}?', 'How fast can the {p} go?', "What's the maximum speed of the {p}?"],
    zhA: (p) => `${p.code} 的最高速度是 ${ms(p.speedMs)}。`, enA: (p) => `The ${p.code} has a top speed of ${ms(p.speedMs)}.`,
  },
  {
    id: 'runtime', value: (p) => p.runtimeH,
    zhQ: ['{p} 充一次电能跑多久？', '{p} 的续航是多少？', '{p} 能连续工作多长时间？', '{p} 的续航时间有多长？'],
    enQ: ['How long does the {p} run on one charge?', 'What is the runtime of the {p}?', 'How many hours can the {p} work per charge?', 'What battery runtime does the {p} have?'],
    zhA: (p) => `${p.code} 充满电约可运行 ${p.runtimeH} 小时。`, enA: (p) => `The ${p.code} runs about ${hoursEn(p.runtimeH)} per charge.`,
  },
  {
    id: 'charge', value: (p) => p.chargeH,
    zhQ: ['{p} 充电要多久？', '{p} 充满电需要多长时间？', '{p} 的充电时间是多少？', '给 {p} 充满电要几个小时？'],
    enQ: ['How long does the {p} take to charge?', 'What is the charging time of the {p}?', 'How long does it take to fully charge the {p}?', 'How many hours does the {p} need to charge?'],
    zhA: (p) => `${p.code} 充满电约需 ${p.chargeH} 小时。`, enA: (p) => `The ${p.code} takes about ${hoursEn(p.chargeH)} to charge.`,
  },
  {
    id: 'battery', value: (p) => p.batteryKwh,
    zhQ: ['{p} 用的是什么电池？', '{p} 的电池容量是多少？', '{p} 配的电池多大？', '{p} 的电池是什么规格？'],
    enQ: ['What battery does the {p} use?', 'What is the battery capacity of the {p}?', 'How big is the battery in the {p}?', 'Which battery is in the {p}?'],
    zhA: (p) => `${p.code} 配备 ${p.batteryKwh} kWh 磷酸铁锂电池。`, enA: (p) => `The ${p.code} has a ${p.batteryKwh} kWh LiFePO4 battery.`,
  },
  {
    id: 'nav', value: (p) => p.navEn,
    zhQ: ['{p} 用什么导航？', '{p} 的导航方式是什么？', '{p} 靠什么定位？', '{p} 采用哪种导航技术？'],
    enQ: ['How does the {p} navigate?', 'What navigation does the {p} use?', 'What kind of navigation is in the {p}?', 'How does the {p} find its position?'],
    zhA: (p) => `${p.code} 使用${p.navZh}。`, enA: (p) => `The ${p.code} uses ${p.navEn}.`,
  },
  {
    id: 'price', value: (p) => p.priceCny,
    zhQ: ['{p} 多少钱？', '{p} 的售价是多少？', '{p} 卖多少钱？', '{p} 的价格是多少？'],
    enQ: ['How much does the {p} cost?', 'What is the price of the {p}?', 'What is the list price of the {p}?', "What's the {p} price?"],
    zhA: (p) => `${p.code} 的售价为 ${cny(p.priceCny)}。`, enA: (p) => `The ${p.code} list price is ${cny(p.priceCny)} (${usd(p.priceUsd)} outside China).`,
  },
  {
    id: 'warranty', value: (p) => p.warrantyYears,
    zhQ: ['{p} 保修几年？', '{p} 的保修期是多久？', '{p} 保修多长时间？', '{p} 的质保是几年？'],
    enQ: ['How long is the warranty on the {p}?', 'What warranty does the {p} have?', 'How many years of warranty come with the {p}?', 'What is the warranty period of the {p}?'],
    zhA: (p) => `${p.code} 的保修期是 ${p.warrantyYears} 年。`, enA: (p) => `The ${p.code} has a ${p.warrantyYears}-year warranty.`,
  },
  {
    id: 'weight', value: (p) => p.weightKg,
    zhQ: ['{p} 自重多少？', '{p} 的整机重量是多少？', '{p} 本身有多重？', '{p} 机身重量是多少？'],
    enQ: ['How much does the {p} weigh?', 'What is the weight of the {p}?', 'How heavy is the {p} itself?', "What's the {p}'s own weight?"],
    zhA: (p) => `${p.code} 的整机重量是 ${kg(p.weightKg)}。`, enA: (p) => `The ${p.code} weighs ${kg(p.weightKg)}.`,
  },
  {
    id: 'nickname', value: (p) => p.nicknameEn,
    zhQ: ['{p} 的昵称是什么？', '{p} 的外号叫什么？', '大家管 {p} 叫什么？', '{p} 有什么昵称？'],
    enQ: ['What is the nickname of the {p}?', 'What do people call the {p}?', 'Does the {p} have a nickname?', 'What animal nickname does the {p} have?'],
    zhA: (p) => `${p.code} 的昵称是“${p.nicknameZh}”。`, enA: (p) => `The ${p.code} is nicknamed the ${p.nicknameEn}.`,
  },
  {
    id: 'launch', value: (p) => p.launchYear,
    zhQ: ['{p} 是哪年发布的？', '{p} 什么时候上市的？', '{p} 是哪一年推出的？', '{p} 的发布年份是哪一年？'],
    enQ: ['When was the {p} launched?', 'What year did the {p} come out?', 'When was the {p} released?', 'In which year was the {p} launched?'],
    zhA: (p) => `${p.code} 于 ${p.launchYear} 年发布。`, enA: (p) => `The ${p.code} was launched in ${p.launchYear}.`,
  },
];

/** Drop the space a substitution leaves between two Chinese characters ("机器人 的" -> "机器人的"). */
export function tidyZh(s: string): string {
  return s.replace(/([\u4e00-\u9fff）”])[ ]+(?=[\u4e00-\u9fff（“])/g, '$1');
}

function aliases(p: Product, lang: Lang): string[] {
  return lang === 'zh' ? [p.code, `云杉 ${p.code}`, `${p.code} ${p.typeZh}`] : [p.code, `Spruce ${p.code}`, `${p.code} ${p.typeEn}`];
}

function productItems(): QAItem[] {
  const items: QAItem[] = [];
  for (const p of PRODUCTS) {
    for (const a of ATTRS.filter((x) => (SUPPORT_PRODUCT_ATTRS as readonly string[]).includes(x.id))) {
      const o = other(p, a.value);
      for (const lang of ['zh', 'en'] as Lang[]) {
        const templates = lang === 'zh' ? a.zhQ : a.enQ;
        const questions = templates.flatMap((t) => aliases(p, lang).map((al) => tidyZh(t.replace('{p}', al))));
        const ans = lang === 'zh' ? a.zhA : a.enA;
        // The wrong answer names the asked product but states another product's value.
        const wrong = ans(o).split(o.code).join(p.code);
        items.push({ key: `product.${p.code}.${a.id}.${lang}`, lang, questions, answer: ans(p), wrong });
      }
    }
  }
  return items;
}

type Bi = { zh: { q: string[]; a: string; w: string }; en: { q: string[]; a: string; w: string } };

function biItems(prefix: string, table: Record<string, Bi>): QAItem[] {
  const out: QAItem[] = [];
  for (const [k, v] of Object.entries(table)) {
    for (const lang of ['zh', 'en'] as Lang[]) {
      out.push({ key: `${prefix}.${k}.${lang}`, lang, questions: v[lang].q, answer: v[lang].a, wrong: v[lang].w });
    }
  }
  return out;
}

function supportGeneralItems(): QAItem[] {
  const std = SERVICE_PLANS[0];
  const gold = SERVICE_PLANS[1];
  const fastest = [...PRODUCTS].sort((a, b) => b.speedMs - a.speedMs)[0];
  const longest = [...PRODUCTS].sort((a, b) => b.runtimeH - a.runtimeH)[0];
  const cheapest = [...PRODUCTS].sort((a, b) => a.priceCny - b.priceCny)[0];
  const heaviest = [...PRODUCTS].sort((a, b) => b.payloadKg - a.payloadKg)[0];
  const fleet41 = '4.1';
  const table: Record<string, Bi> = {
    hotline: {
      zh: { q: ['客服电话是多少？', '你们的客服热线是多少？', '怎么打电话联系售后？', '售后热线号码是什么？', '我想打电话报修，号码是多少？'], a: `客服热线是 ${COMPANY.hotline}。`, w: '客服热线是 400-820-8866。' },
      en: { q: ['What is your support hotline?', 'Which number do I call for support?', 'How can I reach support by phone?', "What's the service hotline number?", 'What number do I call to report a fault?'], a: `Our support hotline is ${COMPANY.hotline}.`, w: 'Our support hotline is 400-820-8866.' },
    },
    email: {
      zh: { q: ['客服邮箱是什么？', '售后邮箱地址是多少？', '可以发邮件报修吗？邮箱是？', '怎么通过邮件联系客服？'], a: `客服邮箱是 ${COMPANY.supportEmail}。`, w: '客服邮箱是 service@spruce-robotics.example。' },
      en: { q: ['What is the support email address?', 'Where do I email for support?', 'Can I report a problem by email? Which address?', 'How do I contact support by email?'], a: `Email ${COMPANY.supportEmail}.`, w: 'Email service@spruce-robotics.example.' },
    },
    stdHours: {
      zh: { q: ['标准服务的热线几点有人接？', '标准服务的服务时间是什么时候？', '周日能打客服电话吗？我们是标准服务。', '标准服务客户什么时候可以联系客服？'], a: `标准服务的热线时间是${std.hoursZh}。`, w: '标准服务的热线时间是周一至周五 9:00–18:00。' },
      en: { q: ['When is the hotline open on the Standard plan?', 'What are the Standard plan support hours?', 'Can I call on Sunday? We are on the Standard plan.', 'When can Standard plan customers reach support?'], a: `On the Standard plan: ${std.hoursEn}.`, w: 'On the Standard plan: Monday to Friday, 9:00–18:00.' },
    },
    goldHours: {
      zh: { q: ['金牌服务的服务时间是？', '金牌服务晚上也有人接电话吗？', '金牌服务客户什么时候可以联系客服？', '金牌服务是 24 小时的吗？'], a: `金牌服务提供${gold.hoursZh}支持。`, w: '金牌服务的服务时间是周一至周六 8:00–20:00。' },
      en: { q: ['What are the Gold plan support hours?', 'Does the Gold plan include night support?', 'When can Gold plan customers call?', 'Is the Gold plan 24/7?'], a: `The Gold plan gives support ${gold.hoursEn}.`, w: 'The Gold plan gives support Monday to Saturday, 8:00–20:00.' },
    },
    goldPrice: {
      zh: { q: ['金牌服务多少钱？', '金牌服务怎么收费？', '金牌服务一年多少钱？', '升级金牌服务要多少钱？'], a: `金牌服务每台每年 ${cny(gold.priceCnyPerRobotYear)}。`, w: '金牌服务每台每年 ¥8,000。' },
      en: { q: ['How much is the Gold plan?', 'What does the Gold plan cost?', 'What is the yearly price of the Gold plan?', 'How much to upgrade to the Gold plan?'], a: `The Gold plan costs ${cny(gold.priceCnyPerRobotYear)} per robot per year.`, w: 'The Gold plan costs ¥8,000 per robot per year.' },
    },
    goldResponse: {
      zh: { q: ['金牌服务多久响应？', '金牌服务的响应时间是多少？', '金牌服务报修后多久有人处理？', '金牌服务多久到现场？'], a: `金牌服务 ${gold.responseZh}内响应，${gold.onsiteHours} 小时内到场。`, w: '金牌服务 2 小时内响应，24 小时内到场。' },
      en: { q: ['How fast does the Gold plan respond?', 'What is the Gold plan response time?', 'How quickly is an engineer on site with the Gold plan?', 'Gold plan: how soon do you respond?'], a: `Gold plan: response within ${gold.responseEn}, engineer on site within ${gold.onsiteHours} hours.`, w: 'Gold plan: response within 2 hours, engineer on site within 24 hours.' },
    },
    stdResponse: {
      zh: { q: ['标准服务多久响应？', '标准服务的响应时间是多少？', '标准服务报修后多久到现场？', '标准服务多快能派工程师？'], a: `标准服务 ${std.responseZh}内响应，${std.onsiteHours} 小时内到场。`, w: '标准服务 1 小时内响应，8 小时内到场。' },
      en: { q: ['How fast does the Standard plan respond?', 'What is the Standard plan response time?', 'How soon is an engineer on site with the Standard plan?', 'Standard plan: how quickly do you respond?'], a: `Standard plan: response within ${std.responseEn}, engineer on site within ${std.onsiteHours} hours.`, w: 'Standard plan: response within 1 hour, engineer on site within 8 hours.' },
    },
    maintenanceVisits: {
      zh: { q: ['每年有几次预防性维护？', '预防性维护一年做几次？', '金牌服务包含几次维护？', '标准服务有预防性维护吗？'], a: `标准服务每年 ${std.preventiveVisitsPerYear} 次，金牌服务每年 ${gold.preventiveVisitsPerYear} 次。`, w: '标准服务每年 2 次，金牌服务每年 12 次。' },
      en: { q: ['How many preventive maintenance visits do we get?', 'How often is preventive maintenance done?', 'How many maintenance visits does the Gold plan include?', 'Does the Standard plan include preventive maintenance?'], a: `${std.preventiveVisitsPerYear} visit a year on the Standard plan, ${gold.preventiveVisitsPerYear} on the Gold plan.`, w: '2 visits a year on the Standard plan, 12 on the Gold plan.' },
    },
    returns: {
      zh: { q: ['买了没用的机器人能退吗？', '退货政策是什么？', '机器人可以退货吗？', '没拆封的机器人可以退吗？'], a: `交付后 ${WARRANTY.returnDays} 天内、未部署且包装完好可退，收 ${WARRANTY.restockingFeeRate * 100}% 重新上架费。`, w: '交付后 7 天内可以无理由退货，不收任何费用。' },
      en: { q: ['Can I return a robot I have not used?', 'What is your return policy?', 'Can robots be returned?', 'Can I send back an unopened robot?'], a: `Yes, within ${WARRANTY.returnDays} days of delivery if undeployed and in original packaging, minus a ${WARRANTY.restockingFeeRate * 100}% restocking fee.`, w: 'Yes, within 7 days of delivery, free of charge.' },
    },
    restocking: {
      zh: { q: ['退货要收费吗？', '重新上架费是多少？', '退货手续费多少？', '退一台机器人要扣多少钱？'], a: `退货收取售价 ${WARRANTY.restockingFeeRate * 100}% 的重新上架费。`, w: '退货收取售价 15% 的重新上架费。' },
      en: { q: ['Is there a fee for returns?', 'How much is the restocking fee?', 'What do you charge when I return a robot?', 'What is deducted from a return refund?'], a: `A restocking fee of ${WARRANTY.restockingFeeRate * 100}% of the list price.`, w: 'A restocking fee of 15% of the list price.' },
    },
    doa: {
      zh: { q: ['刚到货就坏了怎么办？', '到货即损怎么处理？', '新机器人一个月内坏了能换新吗？', '什么情况可以免费换新机？'], a: `交付后 ${WARRANTY.doaDays} 天内出现无法现场修复的严重故障，免费换新。`, w: '交付后 7 天内出现故障，可以退款但不能换新。' },
      en: { q: ['What if the robot arrives broken?', 'How do you handle dead-on-arrival robots?', 'Can I get a new robot if it fails in the first month?', 'When do you replace a robot for free?'], a: `A serious fault not fixable on site within ${WARRANTY.doaDays} days of delivery gets a free new robot.`, w: 'Faults within 7 days get a refund, not a replacement.' },
    },
    refund: {
      zh: { q: ['退款多久到账？', '退货后多久能拿到退款？', '退款需要几天？', '退货的钱什么时候退回来？'], a: `收到退货并检验合格后 ${WARRANTY.refundDays} 天内退款。`, w: '收到退货后 60 天内退款。' },
      en: { q: ['How long do refunds take?', 'When do I get my money back after a return?', 'How many days until a refund arrives?', 'How soon is a return refunded?'], a: `Within ${WARRANTY.refundDays} days after we receive and inspect the robot.`, w: 'Within 60 days after we receive the robot.' },
    },
    batteryWarranty: {
      zh: { q: ['电池保修多久？', '电池的保修期是多长？', '电池坏了保修吗？', '电池保修怎么算？'], a: `电池保修 ${WARRANTY.batteryYears} 年或 ${WARRANTY.batteryCycles.toLocaleString('en-US')} 次循环，以先到者为准。`, w: '电池保修 1 年或 500 次循环，以先到者为准。' },
      en: { q: ['How long is the battery warranty?', 'What warranty do the batteries have?', 'Is the battery covered by warranty?', 'How is battery warranty counted?'], a: `${WARRANTY.batteryYears} years or ${WARRANTY.batteryCycles.toLocaleString('en-US')} cycles, whichever comes first.`, w: '1 year or 500 cycles, whichever comes first.' },
    },
    extended: {
      zh: { q: ['可以延长保修吗？', '延保怎么收费？', '延长保修多少钱？', '最多能延保几年？'], a: `可以，每延保一年为售价的 ${WARRANTY.extendedPerYearRate * 100}%，最多延保 ${WARRANTY.extendedMaxYears} 年。`, w: '可以，每延保一年为售价的 20%，最多延保 10 年。' },
      en: { q: ['Can I extend the warranty?', 'How much is an extended warranty?', 'What does extra warranty cost?', 'How many extra warranty years can I buy?'], a: `Yes: each extra year costs ${WARRANTY.extendedPerYearRate * 100}% of the list price, up to ${WARRANTY.extendedMaxYears} extra years.`, w: 'Yes: each extra year costs 20% of the list price, up to 10 extra years.' },
    },
    collision: {
      zh: { q: ['机器人被叉车撞坏了，保修吗？', '撞坏了能免费修吗？', '碰撞损坏在保修范围内吗？', '人为撞坏的机器人保修吗？'], a: '不保修。使用不当造成的碰撞损坏不在保修范围内，可付费维修。', w: '保修，任何损坏都可以免费维修。' },
      en: { q: ['A forklift hit our robot. Is that covered?', 'Is collision damage covered by warranty?', 'Will you repair a crashed robot for free?', 'Does the warranty cover accidental impacts?'], a: 'No. Collision damage from misuse is not covered, but we can repair it for a fee.', w: 'Yes, all damage is repaired free of charge.' },
    },
    depot: {
      zh: { q: ['返厂维修要多久？', '寄回工厂修需要几天？', '返修周期是多长？', '返厂维修什么时候能修好？'], a: `返厂维修周期为收到货后 ${WARRANTY.depotRepairWorkingDays} 个工作日。`, w: '返厂维修周期为收到货后 30 个工作日。' },
      en: { q: ['How long does a depot repair take?', 'How many days for a factory repair?', 'What is the turnaround for repairs sent to Jiaxing?', 'When will a returned robot be repaired?'], a: `${WARRANTY.depotRepairWorkingDays} working days from when the Jiaxing plant receives it.`, w: '30 working days from when the Jiaxing plant receives it.' },
    },
    fleetLicense: {
      zh: { q: ['调度系统要另外收费吗？', 'SpruceFleet 怎么收费？', 'SpruceFleet 许可多少钱？', '调度软件每年多少钱？'], a: `首年随机器人附带，之后每台每年 ${cny(SOFTWARE.fleetLicenseCnyPerRobotYear)}。`, w: '一次性收费，每台 ¥20,000。' },
      en: { q: ['Is SpruceFleet extra?', 'How is SpruceFleet licensed?', 'What does a SpruceFleet licence cost?', 'How much is the fleet software per year?'], a: `The first year comes with each robot; then ${cny(SOFTWARE.fleetLicenseCnyPerRobotYear)} per robot per year.`, w: 'A one-off fee of ¥20,000 per robot.' },
    },
    fleetVersion: {
      zh: { q: ['SpruceFleet 最新版本是多少？', '调度系统现在是哪个版本？', 'SpruceFleet 当前版本号是？', '最新的调度系统是几点几版？'], a: `SpruceFleet 当前版本为 ${fleet41}。`, w: 'SpruceFleet 当前版本为 3.2。' },
      en: { q: ['What is the latest SpruceFleet version?', 'Which SpruceFleet version is current?', 'What version of SpruceFleet is out now?', 'What is the current fleet software release?'], a: `SpruceFleet ${fleet41} is the current version.`, w: 'SpruceFleet 3.2 is the current version.' },
    },
    wms: {
      zh: { q: ['能和我们的 WMS 对接吗？', 'SpruceFleet 支持 WMS 接口吗？', '调度系统可以连仓库管理系统吗？', '有没有 WMS 标准接口？'], a: 'SpruceFleet 从 3.2 版起提供标准 WMS 接口，也有开放 API。', w: '不能对接 WMS，只能手动下发任务。' },
      en: { q: ['Can SpruceFleet connect to our WMS?', 'Does SpruceFleet have WMS connectors?', 'Can the fleet software talk to a warehouse management system?', 'Is there a standard WMS interface?'], a: 'Yes. Standard WMS connectors since SpruceFleet 3.2, plus an open API.', w: 'No. Tasks can only be entered by hand.' },
    },
    ticket: {
      zh: { q: ['工单号是什么格式？', '工单编号长什么样？', '你们的工单号怎么看？', '报修单号的格式是？'], a: '工单编号格式为 SR-年份-五位数字，例如 SR-2025-01234。', w: '工单编号格式为 TK-五位数字，例如 TK-01234。' },
      en: { q: ['What does a ticket number look like?', 'What is the ticket number format?', 'How are support tickets numbered?', 'What format do your case numbers use?'], a: 'SR, the year and five digits, for example SR-2025-01234.', w: 'TK and five digits, for example TK-01234.' },
    },
    europe: {
      zh: { q: ['欧洲客户由谁提供服务？', '你们在欧洲有服务网点吗？', '欧洲的售后在哪里？', '荷兰的客户找哪个团队？'], a: '欧洲客户由鹿特丹服务中心提供服务。', w: '欧洲客户由新加坡办公室提供服务。' },
      en: { q: ['Who serves customers in Europe?', 'Do you have service in Europe?', 'Where is your European service based?', 'Which team supports customers in the Netherlands?'], a: 'The Rotterdam service center serves European customers.', w: 'The Singapore office serves European customers.' },
    },
    asia: {
      zh: { q: ['东南亚客户由谁负责？', '你们在东南亚有办公室吗？', '新加坡的客户找哪个团队？', '东南亚的售后在哪里？'], a: '东南亚客户由新加坡办公室负责。', w: '东南亚客户由深圳办事处负责。' },
      en: { q: ['Who looks after customers in Southeast Asia?', 'Do you have an office in Southeast Asia?', 'Which team supports customers in Singapore?', 'Where is your Southeast Asia support based?'], a: 'Our Singapore office covers Southeast Asia.', w: 'Our Shenzhen office covers Southeast Asia.' },
    },
    temp: {
      zh: { q: ['机器人能在冷库里用吗？', '机器人的工作温度是多少？', '零下能用你们的机器人吗？', '机器人适合什么温度？'], a: `所有机型的工作温度为 ${ROBOT_COMMON.operatingTempZh}，不适合冷库。`, w: '所有机型都可以在 -30 °C 的冷库里工作。' },
      en: { q: ['Can your robots work in a cold store?', 'What is the operating temperature of the robots?', 'Do the robots work below freezing?', 'What temperatures can the robots handle?'], a: `All models are rated for ${ROBOT_COMMON.operatingTempEn}, so not for cold stores.`, w: 'All models work in cold stores down to -30 °C.' },
    },
    sharedSpeed: {
      zh: { q: ['人机共享区域限速多少？', '有人的区域机器人跑多快？', '机器人在人旁边会减速吗？', '共享区域的速度上限是多少？'], a: `在共享区域，所有机器人限速 ${ROBOT_COMMON.sharedZoneSpeedMs} m/s。`, w: '在共享区域，机器人保持最高速度。' },
      en: { q: ['What is the speed limit in shared zones?', 'How fast do robots go near people?', 'Do robots slow down around people?', 'What is the top speed in areas shared with people?'], a: `Every robot is limited to ${ROBOT_COMMON.sharedZoneSpeedMs} m/s in shared zones.`, w: 'Robots keep their top speed in shared zones.' },
    },
    stopDistance: {
      zh: { q: ['机器人离人多远会停下？', '遇到障碍物机器人会怎样？', '机器人在多远距离减速？', '机器人的避障距离是多少？'], a: `${ROBOT_COMMON.slowDownDistanceM} 米内有障碍物会减速，${ROBOT_COMMON.stopDistanceM} 米内会停车。`, w: '10 厘米内才会停车，不会提前减速。' },
      en: { q: ['How close can a person get before a robot stops?', 'What does a robot do when it sees an obstacle?', 'At what distance do robots slow down?', 'What are the obstacle distances for the robots?'], a: `Robots slow down within ${ROBOT_COMMON.slowDownDistanceM} m of an obstacle and stop within ${ROBOT_COMMON.stopDistanceM} m.`, w: 'Robots stop only within 10 cm and never slow down.' },
    },
    batteryType: {
      zh: { q: ['你们的机器人用什么电池？', '机器人是锂电池吗？', '电池是什么类型的？', '电池安全吗？用的什么电池？'], a: '所有机型都使用磷酸铁锂电池。', w: '所有机型都使用铅酸电池。' },
      en: { q: ['What batteries do your robots use?', 'Are the robots lithium-powered?', 'What type of battery is inside?', 'Which battery chemistry do you use?'], a: 'Every model uses LiFePO4 batteries.', w: 'Every model uses lead-acid batteries.' },
    },
    fastest: {
      zh: { q: ['哪款机器人跑得最快？', '最快的是哪个型号？', '你们速度最快的产品是哪款？', '哪个型号速度最高？'], a: `${fastest.code} 最快，最高速度 ${ms(fastest.speedMs)}。`, w: 'F1500 最快，最高速度 2.0 m/s。' },
      en: { q: ['Which robot is the fastest?', 'What is your fastest model?', 'Which product has the highest top speed?', 'Which model drives fastest?'], a: `The ${fastest.code}, at ${ms(fastest.speedMs)}.`, w: 'The F1500, at 2.0 m/s.' },
    },
    longest: {
      zh: { q: ['哪款机器人续航最长？', '哪个型号充一次电跑得最久？', '续航最长的是哪款？', '哪款机器人一次充电工作时间最长？'], a: `${longest.code} 续航最长，约 ${longest.runtimeH} 小时。`, w: 'F1500 续航最长，约 20 小时。' },
      en: { q: ['Which robot runs longest on a charge?', 'Which model has the longest runtime?', 'What is your longest-running robot?', 'Which robot lasts longest between charges?'], a: `The ${longest.code}, at about ${hoursEn(longest.runtimeH)}.`, w: 'The F1500, at about 20 hours.' },
    },
    cheapest: {
      zh: { q: ['最便宜的是哪一款？', '哪款机器人价格最低？', '入门款多少钱？', '你们最便宜的机器人是什么？'], a: `${cheapest.code} 最便宜，售价 ${cny(cheapest.priceCny)}。`, w: 'T100 最便宜，售价 ¥38,000。' },
      en: { q: ['What is your cheapest robot?', 'Which model costs the least?', 'What is the entry-level robot and its price?', 'Which robot has the lowest price?'], a: `The ${cheapest.code}, at ${cny(cheapest.priceCny)} (${usd(cheapest.priceUsd)}).`, w: 'The T100, at ¥38,000.' },
    },
    heaviest: {
      zh: { q: ['载重最大的是哪款？', '哪款机器人能搬最重的货？', '最大载重是多少？', '哪个型号承重最大？'], a: `${heaviest.code} 载重最大，额定载重 ${kg(heaviest.payloadKg)}。`, w: 'L1200 载重最大，额定载重 2,000 kg。' },
      en: { q: ['Which robot has the highest payload?', 'Which model carries the heaviest loads?', 'What is your maximum payload?', 'Which robot can lift the most?'], a: `The ${heaviest.code}, with a payload of ${kg(heaviest.payloadKg)}.`, w: 'The L1200, with a payload of 2,000 kg.' },
    },
    liftHeight: {
      zh: { q: ['F1500 能举多高？', '无人叉车的最大举升高度是多少？', 'F1500 货叉最高升到多少？', '驼鹿能把货举多高？'], a: 'F1500 最大举升高度 3 米。', w: 'F1500 最大举升高度 6 米。' },
      en: { q: ['How high can the F1500 lift?', 'What is the forklift’s maximum lift height?', 'How far up do the F1500 forks go?', 'How high can the Moose raise a pallet?'], a: 'The F1500 lifts up to 3 m.', w: 'The F1500 lifts up to 6 m.' },
    },
    hq: {
      zh: { q: ['你们公司在哪里？', '云杉智造总部地址是？', '公司总部在哪个城市？', '你们的地址是什么？'], a: `总部位于${COMPANY.hqZh}。`, w: '总部位于上海市浦东新区。' },
      en: { q: ['Where is Spruce Robotics based?', 'What is your headquarters address?', 'Which city is your head office in?', 'Where is the company located?'], a: `Our headquarters is at ${COMPANY.hqEn}.`, w: 'Our headquarters is in Pudong, Shanghai.' },
    },
    founded: {
      zh: { q: ['云杉智造是哪年成立的？', '公司成立多久了？', '你们什么时候创立的？', '公司的成立时间是？'], a: `云杉智造成立于 ${COMPANY.foundedYear} 年 ${COMPANY.foundedMonth} 月。`, w: '云杉智造成立于 2010 年。' },
      en: { q: ['When was Spruce Robotics founded?', 'How old is the company?', 'What year did Spruce Robotics start?', 'When was the company established?'], a: `In March ${COMPANY.foundedYear}.`, w: 'In 2010.' },
    },
    ceo: {
      zh: { q: ['你们的 CEO 是谁？', '云杉智造的创始人是谁？', '公司的首席执行官是谁？', '谁创办了云杉智造？'], a: `创始人兼首席执行官是${person('lin').nameZh}。`, w: `创始人兼首席执行官是${person('wang').nameZh}。` },
      en: { q: ['Who is your CEO?', 'Who founded Spruce Robotics?', 'Who runs the company?', 'Who started Spruce Robotics?'], a: `${person('lin').nameEn}, our founder and CEO.`, w: `${person('wang').nameEn}, our founder and CEO.` },
    },
  };
  return biItems('support', table);
}

function faultItems(): QAItem[] {
  const out: QAItem[] = [];
  ERROR_CODES.forEach((e, i) => {
    const o = ERROR_CODES[(i + 1) % ERROR_CODES.length];
    out.push({
      key: `fault.${e.code}.zh`, lang: 'zh',
      questions: [`${e.code} 是什么故障？`, `机器人报 ${e.code} 怎么办？`, `${e.code} 代码是什么意思？`, `屏幕显示 ${e.code}，怎么处理？`, `故障代码 ${e.code} 怎么解决？`],
      answer: `${e.code} 表示${e.zh}，请${e.fixZh}。`, wrong: `${e.code} 表示${o.zh}，请${o.fixZh}。`,
    });
    out.push({
      key: `fault.${e.code}.en`, lang: 'en',
      questions: [`What does ${e.code} mean?`, `My robot shows ${e.code}. What do I do?`, `What is fault code ${e.code}?`, `How do I fix an ${e.code} alarm?`, `The screen says ${e.code}. What now?`],
      answer: `${e.code} means ${e.en}: ${e.fixEn}.`, wrong: `${e.code} means ${o.en}: ${o.fixEn}.`,
    });
  });
  return out;
}

function partItems(): QAItem[] {
  const out: QAItem[] = [];
  PARTS.forEach((p, i) => {
    const o = PARTS[(i + 1) % PARTS.length];
    out.push({
      key: `part.${p.id}.zh`, lang: 'zh',
      questions: [`${p.nameZh}多少钱？`, `${p.nameZh}的价格是多少？`, `买一个${p.nameZh}要多少钱？`, `${p.nameZh}备件怎么卖？`],
      answer: `${p.nameZh}的价格是 ${cny(p.priceCny)}。`, wrong: `${p.nameZh}的价格是 ${cny(o.priceCny)}。`,
    });
    out.push({
      key: `part.${p.id}.en`, lang: 'en',
      questions: [`How much is ${article(p.nameEn)}?`, `What does ${article(p.nameEn)} cost?`, `What is the price of ${article(p.nameEn)}?`, `How much for a spare ${p.nameEn}?`],
      answer: `${cap(article(p.nameEn))} costs ${cny(p.priceCny)}.`, wrong: `${cap(article(p.nameEn))} costs ${cny(o.priceCny)}.`,
    });
  });
  return out;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Which robot for a given load: training and validation use different weights. */
const RECOMMEND_WEIGHTS = { train: [10, 15, 30, 40, 100, 200, 250, 500, 800, 1000, 1300, 1400], val: [18, 45, 150, 280, 600, 1100, 1450] };

function recommendItems(split: 'train' | 'val'): QAItem[] {
  const out: QAItem[] = [];
  for (const w of RECOMMEND_WEIGHTS[split]) {
    const p = productForPayload(w)!;
    const under = [...PRODUCTS].filter((x) => x.payloadKg < w).sort((a, b) => b.payloadKg - a.payloadKg)[0] ?? other(p, (x) => x.code);
    out.push({
      key: `recommend.${w}.zh`, lang: 'zh',
      questions: [`我的货物单件 ${kg(w)}，用哪款机器人？`, `${kg(w)} 的货物该选哪个型号？`, `要搬 ${kg(w)} 的东西，推荐哪款？`],
      answer: `推荐 ${p.code}，额定载重 ${kg(p.payloadKg)}。`, wrong: `推荐 ${under.code}，额定载重 ${kg(under.payloadKg)}。`,
    });
    out.push({
      key: `recommend.${w}.en`, lang: 'en',
      questions: [`My loads weigh ${kg(w)}. Which robot should I use?`, `Which model fits a ${kg(w)} load?`, `What robot do you recommend for ${kg(w)} loads?`],
      answer: `We recommend the ${p.code}, which carries up to ${kg(p.payloadKg)}.`, wrong: `We recommend the ${under.code}, which carries up to ${kg(under.payloadKg)}.`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HR / IT policy facts

function hrGeneralItems(): QAItem[] {
  const t1zh = EXPENSES.tier1CitiesZh.join('、');
  const t1en = 'Beijing, Shanghai, Guangzhou and Shenzhen';
  const table: Record<string, Bi> = {
    hours: {
      zh: { q: ['公司的上下班时间是几点？', '标准工作时间是什么？', '我们几点上班几点下班？', '办公室的工作时间是怎样的？'], a: `标准工作时间 ${HR.workStart}–${HR.workEnd}，午休 ${HR.lunch}。`, w: '标准工作时间 8:00–17:00，午休 11:30–12:00。' },
      en: { q: ['What are the standard working hours?', 'When does the office day start and end?', 'What time do we start and finish work?', 'What are our normal office hours?'], a: `Standard hours are ${HR.workStart}–${HR.workEnd}, with lunch ${HR.lunch}.`, w: 'Standard hours are 8:00–17:00, with lunch 11:30–12:00.' },
    },
    flex: {
      zh: { q: ['可以弹性上班吗？', '最早几点、最晚几点开始工作？', '弹性工作制怎么规定的？', '上班时间可以自己调整吗？'], a: `可以在 ${HR.flexStartEarliest} 到 ${HR.flexStartLatest} 之间开始工作，每天满 8 小时。`, w: '不可以，必须 9:00 准时上班。' },
      en: { q: ['Do we have flexible hours?', 'What is the earliest and latest start time?', 'How does flexitime work here?', 'Can I choose when to start work?'], a: `Yes: start any time from ${HR.flexStartEarliest} to ${HR.flexStartLatest} and work a full eight hours.`, w: 'No: everyone must start at 9:00 sharp.' },
    },
    core: {
      zh: { q: ['核心工作时间是几点？', '哪段时间必须在线？', '核心时间是什么时候？', '什么时候不能安排私事？'], a: `核心工作时间是 ${HR.coreHours}。`, w: '核心工作时间是 9:00–12:00。' },
      en: { q: ['What are the core hours?', 'When must I be reachable?', 'Which hours are core time?', 'When should I avoid personal appointments?'], a: `Core hours are ${HR.coreHours}.`, w: 'Core hours are 9:00–12:00.' },
    },
    shifts: {
      zh: { q: ['嘉兴工厂的班次是怎样的？', '工厂早班和晚班是几点？', '嘉兴工厂几班倒？', '生产岗位的上班时间是？'], a: `两班制：早班 ${HR.plantShiftEarly}，晚班 ${HR.plantShiftLate}。`, w: '三班制：每班 8 小时，全天 24 小时运转。' },
      en: { q: ['What shifts does the Jiaxing plant run?', 'When are the early and late shifts at the plant?', 'How many shifts are there in Jiaxing?', 'What are production working hours?'], a: `Two shifts: ${HR.plantShiftEarly} and ${HR.plantShiftLate}.`, w: 'Three 8-hour shifts, around the clock.' },
    },
    remote: {
      zh: { q: ['可以在家办公吗？', '每周能远程办公几天？', '远程办公有什么规定？', '试用期可以在家工作吗？'], a: `转正后经直属经理同意，每周最多远程办公 ${HR.remoteDaysPerWeek} 天。`, w: '可以随时在家办公，不需要审批。' },
      en: { q: ['Can I work from home?', 'How many remote days a week are allowed?', 'What is the remote-work policy?', 'Can I work remotely during probation?'], a: `After probation, with manager approval, up to ${HR.remoteDaysPerWeek} days a week.`, w: 'Any time, no approval needed.' },
    },
    overtime: {
      zh: { q: ['加班怎么申请？', '加班有调休吗？', '加班后怎么补偿？', '调休要在多久内用完？'], a: `加班需事先在 SpruceHub 申请，优先调休，调休在 ${HR.compTimeMonths} 个月内用完。`, w: '加班不需要申请，调休可以一直保留。' },
      en: { q: ['How do I request overtime?', 'Do we get time off for overtime?', 'How is overtime compensated?', 'How long can I keep time off in lieu?'], a: `Request it in SpruceHub in advance; time off in lieu must be used within ${HR.compTimeMonths} months.`, w: 'No request needed, and time off in lieu never expires.' },
    },
    leaveFirst: {
      zh: { q: ['第一年有几天年假？', '新员工有多少天年假？', '刚入职年假有几天？', '入职第一年可以休几天年假？'], a: `入职第一年 ${HR.annualLeaveFirstYear} 天年假。`, w: '入职第一年 5 天年假。' },
      en: { q: ['How much annual leave do I get in my first year?', 'How many leave days do new employees get?', 'What is the annual leave for new joiners?', 'How many holiday days in year one?'], a: `${HR.annualLeaveFirstYear} days in your first year.`, w: '5 days in your first year.' },
    },
    leaveRule: {
      zh: { q: ['年假怎么计算？', '年假会随工龄增加吗？', '年假最多有几天？', '年假的上限是多少？'], a: `第一年 ${HR.annualLeaveFirstYear} 天，每满一年加 1 天，最多 ${HR.annualLeaveMax} 天。`, w: '固定 10 天，不随工龄增加。' },
      en: { q: ['How is annual leave calculated?', 'Does annual leave grow with service?', 'What is the maximum annual leave?', 'Is there a cap on annual leave?'], a: `${HR.annualLeaveFirstYear} days in year one, plus one per full year, up to ${HR.annualLeaveMax}.`, w: 'A flat 10 days that never grows.' },
    },
    carry: {
      zh: { q: ['没休完的年假能结转吗？', '年假可以留到明年吗？', '去年的年假还能用吗？', '年假结转有什么规定？'], a: `最多结转 ${HR.carryOverMaxDays} 天，须在${HR.carryOverDeadlineZh}前休完。`, w: '可以全部结转，没有期限。' },
      en: { q: ['Can unused leave be carried over?', 'Can I keep my annual leave for next year?', 'Can I still use last year’s leave?', 'What is the carry-over rule?'], a: `Up to ${HR.carryOverMaxDays} days, to be used by ${HR.carryOverDeadlineEn}.`, w: 'All of it, with no deadline.' },
    },
    leaveNotice: {
      zh: { q: ['年假要提前多久申请？', '请年假要提前几天？', '年假在哪里申请？', '休年假需要谁批准？'], a: `至少提前 ${HR.leaveNoticeWorkingDays} 个工作日在 SpruceHub 申请，直属经理审批。`, w: '提前一天口头说一声就行。' },
      en: { q: ['How far ahead must I request annual leave?', 'How much notice does annual leave need?', 'Where do I request annual leave?', 'Who approves my annual leave?'], a: `At least ${HR.leaveNoticeWorkingDays} working days ahead in SpruceHub; your manager approves.`, w: 'Just tell someone the day before.' },
    },
    longLeave: {
      zh: { q: ['连休 7 天年假需要谁批？', '长假需要部门负责人批准吗？', '休假超过一周要几级审批？', '连续休假多少天要部门负责人审批？'], a: `连续超过 ${HR.deptHeadApprovalOverDays} 天，还需部门负责人审批。`, w: '连续超过 15 天才需要首席执行官审批。' },
      en: { q: ['Who approves 7 days of leave in a row?', 'Does long leave need my department head?', 'How many approvals for more than a week off?', 'When does leave need department-head approval?'], a: `Over ${HR.deptHeadApprovalOverDays} consecutive days also needs your department head.`, w: 'Only over 15 days, and the CEO approves.' },
    },
    sick: {
      zh: { q: ['病假有几天？', '病假扣工资吗？', '一年有多少天带薪病假？', '病假需要证明吗？'], a: `每年 ${HR.sickLeaveDays} 天全薪病假，连续超过 ${HR.sickCertificateAfterDays} 天需医院证明。`, w: '每年 5 天病假，每次都需要医院证明。' },
      en: { q: ['How much sick leave do we get?', 'Is sick leave paid?', 'How many paid sick days a year?', 'Do I need a doctor’s note for sick leave?'], a: `${HR.sickLeaveDays} paid days a year; a doctor’s note after ${HR.sickCertificateAfterDays} consecutive days.`, w: '5 days a year, always with a note.' },
    },
    marriage: {
      zh: { q: ['婚假有几天？', '结婚可以休几天假？', '婚假是多少天？', '领证后有婚假吗？几天？'], a: `婚假 ${HR.marriageLeaveDays} 天。`, w: '婚假 3 天。' },
      en: { q: ['How long is marriage leave?', 'How many days off do I get for my wedding?', 'What is the marriage leave?', 'Is there leave for getting married?'], a: `${HR.marriageLeaveDays} days.`, w: '3 days.' },
    },
    maternity: {
      zh: { q: ['产假有几天？', '产假是多少天？', '生孩子可以休多久？', '女员工产假多长？'], a: `产假 ${HR.maternityLeaveDays} 天。`, w: '产假 98 天。' },
      en: { q: ['How long is maternity leave?', 'How many days of maternity leave?', 'What is the maternity leave entitlement?', 'How much leave for giving birth?'], a: `${HR.maternityLeaveDays} days.`, w: '98 days.' },
    },
    paternity: {
      zh: { q: ['陪产假有几天？', '男员工陪产假多久？', '老婆生孩子我能休几天？', '陪产假是多少天？'], a: `陪产假 ${HR.paternityLeaveDays} 天，需在配偶生产后 6 个月内休完。`, w: '陪产假 3 天。' },
      en: { q: ['How long is paternity leave?', 'How many days off for a new father?', 'What is the paternity leave entitlement?', 'How much leave when my partner gives birth?'], a: `${HR.paternityLeaveDays} days, taken within six months of the birth.`, w: '3 days.' },
    },
    bereavement: {
      zh: { q: ['丧假有几天？', '家人去世可以请几天假？', '丧假是多少天？', '直系亲属去世有假期吗？'], a: `丧假 ${HR.bereavementLeaveDays} 天。`, w: '丧假 7 天。' },
      en: { q: ['How long is bereavement leave?', 'How many days off when a family member dies?', 'What is the bereavement leave?', 'Is there leave for a death in the family?'], a: `${HR.bereavementLeaveDays} days.`, w: '7 days.' },
    },
    probation: {
      zh: { q: ['试用期多长？', '新员工试用期几个月？', '试用期是多久？', '多久可以转正？'], a: `试用期 ${HR.probationMonths} 个月。`, w: '试用期 6 个月。' },
      en: { q: ['How long is probation?', 'How many months is the probation period?', 'When does probation end?', 'How long until I am confirmed in my job?'], a: `${HR.probationMonths} months.`, w: '6 months.' },
    },
    payday: {
      zh: { q: ['几号发工资？', '工资什么时候发？', '每月发薪日是哪天？', '发薪日是几号？'], a: `每月 ${HR.payday} 日发工资。`, w: '每月 25 日发工资。' },
      en: { q: ['When is payday?', 'What day are salaries paid?', 'Which day of the month do we get paid?', 'When does the salary arrive?'], a: `The ${HR.payday}th of every month.`, w: 'The 25th of every month.' },
    },
    training: {
      zh: { q: ['学习预算有多少？', '每年可以报销多少培训费？', '买书和上课的预算是多少？', '个人学习经费是多少？'], a: `每人每年 ${cny(HR.trainingBudgetCny)}。`, w: '每人每年 ¥500。' },
      en: { q: ['How big is the learning budget?', 'How much can I spend on training each year?', 'What is the budget for books and courses?', 'What is my personal learning allowance?'], a: `${cny(HR.trainingBudgetCny)} per person per year.`, w: '¥500 per person per year.' },
    },
    referral: {
      zh: { q: ['内推奖金是多少？', '推荐朋友入职有奖励吗？', '内推奖什么时候发？', '内推成功能拿多少钱？'], a: `${cny(HR.referralBonusCny)}，被推荐人通过试用期后发放。`, w: '¥1,000，入职当天发放。' },
      en: { q: ['How much is the referral bonus?', 'Is there a reward for referring a friend?', 'When is the referral bonus paid?', 'What do I get for a successful referral?'], a: `${cny(HR.referralBonusCny)}, paid once the new hire passes probation.`, w: '¥1,000, paid on the first day.' },
    },
    dinner: {
      zh: { q: ['加班有晚饭吗？', '晚餐免费吗？', '几点以后可以免费吃晚饭？', '食堂晚饭怎么收费？'], a: `工作到 ${HR.freeDinnerAfter} 以后可免费用晚餐，午餐也免费。`, w: '晚餐需要自费，¥30 一份。' },
      en: { q: ['Is dinner provided when working late?', 'Is dinner free?', 'After what time is dinner free?', 'Do we pay for dinner in the canteen?'], a: `Dinner is free if you work past ${HR.freeDinnerAfter}; lunch is always free.`, w: 'Dinner costs ¥30.' },
    },
    firstDay: {
      zh: { q: ['入职第一天几点到？', '第一天去哪里报到？', '新员工报到时间是？', '入职当天在哪里集合？'], a: `上午 ${HR.firstDayArrival} 到总部 A 座一楼前台报到。`, w: '上午 8:00 到三楼人力资源部报到。' },
      en: { q: ['What time do I arrive on my first day?', 'Where do I report on day one?', 'When and where is first-day check-in?', 'Where do new joiners go on the first morning?'], a: `${HR.firstDayArrival} at the Building A ground-floor reception, headquarters.`, w: '8:00 at the HR office on the third floor.' },
    },
    orientation: {
      zh: { q: ['新员工培训是哪天？', '入职培训什么时候开？', '新人培训在周几？', '新员工培训多久一次？'], a: `新员工培训在${HR.orientationDayZh}上午。`, w: '新员工培训每月最后一个周五。' },
      en: { q: ['When is orientation?', 'Which day is new-joiner training?', 'How often is orientation held?', 'What day of the week is onboarding training?'], a: `Orientation runs ${HR.orientationDayEn} morning.`, w: 'Orientation runs on the last Friday of each month.' },
    },
    safetyTraining: {
      zh: { q: ['安全培训什么时候完成？', '新员工要上多久的安全培训？', '进作业区前需要什么培训？', '安全培训有几个小时？'], a: `入职 ${HR.safetyTrainingWithinDays} 天内完成 ${HR.safetyTrainingHours} 小时安全培训。`, w: '入职 3 个月内完成 1 小时安全培训。' },
      en: { q: ['When must safety training be done?', 'How long is the safety training?', 'What training do I need before entering robot areas?', 'How many hours is the safety course?'], a: `${HR.safetyTrainingHours} hours, within ${HR.safetyTrainingWithinDays} days of joining.`, w: '1 hour, within 3 months of joining.' },
    },
    securityTraining: {
      zh: { q: ['信息安全培训什么时候完成？', '信息安全考试的期限是？', '新员工多久内要完成安全意识培训？', '什么时候能开通客户数据权限？'], a: `入职 ${HR.securityTrainingWithinDays} 天内完成信息安全培训，通过后开通权限。`, w: '入职 3 个月内完成即可。' },
      en: { q: ['When is security training due?', 'What is the deadline for the IT security course?', 'How soon must new joiners finish security training?', 'When do I get access to customer data?'], a: `Within ${HR.securityTrainingWithinDays} days of joining; access opens after you pass.`, w: 'Within 3 months; access is immediate.' },
    },
    gifts: {
      zh: { q: ['可以收客户的礼物吗？', '收礼有什么规定？', '供应商送的礼品能收吗？', '礼品的价值上限是多少？'], a: `不得收受价值超过 ${cny(HR.giftLimitCny)} 的礼品。`, w: '任何礼品都可以收，不用登记。' },
      en: { q: ['Can I accept gifts from customers?', 'What is the gift policy?', 'Can I keep a present from a supplier?', 'What is the gift value limit?'], a: `No gifts worth more than ${cny(HR.giftLimitCny)}.`, w: 'Any gift is fine, no need to register it.' },
    },
    notice: {
      zh: { q: ['离职要提前多久通知？', '辞职需要提前几天说？', '转正后离职提前多久？', '离职通知期是多长？'], a: `转正后提前 ${HR.resignationNoticeDays} 天书面通知，试用期提前 ${HR.resignationNoticeProbationDays} 天。`, w: '提前 7 天口头通知即可。' },
      en: { q: ['How much notice do I give when resigning?', 'What is the resignation notice period?', 'How early must I tell the company I am leaving?', 'What notice applies after probation?'], a: `${HR.resignationNoticeDays} days in writing after probation, ${HR.resignationNoticeProbationDays} days during probation.`, w: '7 days, verbally.' },
    },
    claimDeadline: {
      zh: { q: ['报销要在多久内提交？', '费用发生后多久必须报销？', '报销有截止时间吗？', '过了多久就不能报销了？'], a: `费用发生后 ${EXPENSES.submitWithinDays} 天内提交。`, w: '费用发生后 1 年内提交。' },
      en: { q: ['How soon must I submit expenses?', 'What is the deadline for expense claims?', 'Is there a time limit for claiming expenses?', 'How long after a purchase can I claim it?'], a: `Within ${EXPENSES.submitWithinDays} days of the expense.`, w: 'Within a year of the expense.' },
    },
    claimPaid: {
      zh: { q: ['报销多久到账？', '报销审批后几天打款？', '报销的钱什么时候到？', '报销付款周期是多久？'], a: `审批通过后 ${EXPENSES.reimburseWorkingDays} 个工作日内到账。`, w: '审批通过后 2 个月内到账。' },
      en: { q: ['How long until expenses are paid?', 'When is an approved claim paid?', 'How many days for reimbursement?', 'When will I get my expense money?'], a: `Within ${EXPENSES.reimburseWorkingDays} working days of approval.`, w: 'Within two months of approval.' },
    },
    hotelCaps: {
      zh: { q: ['出差住宿标准是多少？', '酒店每晚能报多少？', '住宿费上限是多少？', '出差住酒店有限额吗？'], a: `${t1zh}每晚 ${cny(EXPENSES.hotelTier1Cny)}，其他城市 ${cny(EXPENSES.hotelOtherCny)}，海外 ${usd(EXPENSES.hotelIntlUsd)}。`, w: '不限额，按实际报销。' },
      en: { q: ['What are the hotel limits?', 'How much can I spend per night on hotels?', 'What is the hotel cap for business travel?', 'Is there a nightly hotel limit?'], a: `${cny(EXPENSES.hotelTier1Cny)} in ${t1en}; ${cny(EXPENSES.hotelOtherCny)} elsewhere in China; ${usd(EXPENSES.hotelIntlUsd)} abroad.`, w: 'No limit; actual cost is reimbursed.' },
    },
    meals: {
      zh: { q: ['出差餐补是多少？', '出差每天有多少餐费补助？', '出差吃饭怎么报销？', '海外出差餐补多少？'], a: `国内每天 ${cny(EXPENSES.mealDomesticCny)}，海外每天 ${usd(EXPENSES.mealIntlUsd)}，无需发票。`, w: '国内每天 ¥50，需要提供餐饮发票。' },
      en: { q: ['What is the travel meal allowance?', 'How much per day for meals on a trip?', 'How are meals on business trips covered?', 'What is the meal allowance abroad?'], a: `${cny(EXPENSES.mealDomesticCny)} a day in China, ${usd(EXPENSES.mealIntlUsd)} a day abroad, no receipts needed.`, w: '¥50 a day, receipts required.' },
    },
    flights: {
      zh: { q: ['出差可以坐商务舱吗？', '坐飞机是什么舱位？', '长途航班能订超级经济舱吗？', '机票舱位有什么规定？'], a: `乘坐经济舱；单程超过 ${EXPENSES.premiumEconomyOverHours} 小时可订超级经济舱。`, w: '可以坐商务舱。' },
      en: { q: ['Can I fly business class?', 'Which cabin class may I book?', 'Can I book premium economy on long flights?', 'What is the flight class rule?'], a: `Economy; premium economy for flights over ${EXPENSES.premiumEconomyOverHours} hours.`, w: 'Business class is fine.' },
    },
    rail: {
      zh: { q: ['坐高铁可以坐一等座吗？', '高铁是什么座位？', '出差坐火车买什么票？', '火车票的标准是？'], a: '高铁和动车乘坐二等座。', w: '高铁乘坐商务座。' },
      en: { q: ['Can I travel first class by train?', 'Which class on high-speed trains?', 'What train ticket should I buy for a trip?', 'What is the rail travel rule?'], a: 'Second class on high-speed trains.', w: 'Business class on high-speed trains.' },
    },
    taxi: {
      zh: { q: ['加班晚了打车能报销吗？', '几点以后打车可以报销？', '晚上下班打车费怎么算？', '加班打车报销的规定是？'], a: `${EXPENSES.lateTaxiAfter} 以后下班，打车回家可以报销。`, w: '打车一律不能报销。' },
      en: { q: ['Can I claim a taxi after working late?', 'After what time is a taxi home covered?', 'Who pays for my taxi after a late night?', 'What is the late-taxi rule?'], a: `Yes, if you finish after ${EXPENSES.lateTaxiAfter}.`, w: 'No, taxis are never covered.' },
    },
    entertainment: {
      zh: { q: ['请客户吃饭有限额吗？', '客户招待需要审批吗？', '招待费多少以上要事先申请？', '招待客户的规定是什么？'], a: `单次超过 ${cny(EXPENSES.entertainmentPreapprovalCny)} 需事先审批。`, w: '不需要审批，多少都可以。' },
      en: { q: ['Is there a limit on customer dinners?', 'Does customer entertainment need approval?', 'Above what amount must entertainment be pre-approved?', 'What is the entertainment rule?'], a: `Anything over ${cny(EXPENSES.entertainmentPreapprovalCny)} per occasion needs approval beforehand.`, w: 'No approval is ever needed.' },
    },
    approvals: {
      zh: { q: ['报销单谁来审批？', '报销审批权限是怎样的？', '多少钱以上要首席财务官批？', '报销金额和审批人怎么对应？'], a: `${cny(EXPENSES.managerLimitCny)} 以下直属经理，至 ${cny(EXPENSES.deptHeadLimitCny)} 部门负责人，以上首席财务官。`, w: '所有报销都由首席执行官审批。' },
      en: { q: ['Who approves expense claims?', 'What are the expense approval limits?', 'Above what amount does the CFO approve?', 'How do claim amounts map to approvers?'], a: `Under ${cny(EXPENSES.managerLimitCny)} your manager; up to ${cny(EXPENSES.deptHeadLimitCny)} your department head; above that the CFO.`, w: 'The CEO approves every claim.' },
    },
    password: {
      zh: { q: ['密码有什么要求？', '密码至少几位？', '密码多久要换一次？', '公司的密码规则是什么？'], a: `至少 ${IT.passwordMinLength} 位，每 ${IT.passwordChangeDays} 天更换，并开启多因素认证。`, w: '至少 6 位，不需要更换。' },
      en: { q: ['What are the password rules?', 'How long must my password be?', 'How often must I change my password?', 'What is the password policy?'], a: `At least ${IT.passwordMinLength} characters, changed every ${IT.passwordChangeDays} days, with MFA on.`, w: 'At least 6 characters, never changed.' },
    },
    screenLock: {
      zh: { q: ['电脑多久自动锁屏？', '离开座位要锁屏吗？', '锁屏时间是几分钟？', '电脑闲置多久会锁定？'], a: `闲置 ${IT.screenLockMinutes} 分钟自动锁屏，离开座位请主动锁屏。`, w: '闲置 1 小时自动锁屏。' },
      en: { q: ['When does my laptop lock itself?', 'Do I need to lock my screen?', 'What is the screen-lock timeout?', 'How long before an idle laptop locks?'], a: `After ${IT.screenLockMinutes} idle minutes; lock it yourself when you step away.`, w: 'After an hour idle.' },
    },
    incident: {
      zh: { q: ['笔记本电脑丢了怎么办？', '安全事件要多久内报告？', '点了钓鱼链接怎么办？', '发现账号被盗用要怎么做？'], a: `${IT.incidentReportHours} 小时内报告信息技术部：分机 ${IT.helpdeskExt} 或 ${COMPANY.securityEmail}。`, w: '一周内写邮件告诉直属经理即可。' },
      en: { q: ['I lost my laptop. What do I do?', 'How fast must security incidents be reported?', 'I clicked a phishing link. Now what?', 'What if someone is using my account?'], a: `Report to IT within ${IT.incidentReportHours} hour: extension ${IT.helpdeskExt} or ${COMPANY.securityEmail}.`, w: 'Email your manager within a week.' },
    },
    helpdesk: {
      zh: { q: ['IT 服务台怎么联系？', 'IT 分机是多少？', 'IT 服务台几点上班？', '电脑坏了找谁？'], a: `IT 服务台分机 ${IT.helpdeskExt}，工作日 ${IT.helpdeskHours}。`, w: 'IT 服务台分机 6000，全天 24 小时。' },
      en: { q: ['How do I reach the IT helpdesk?', 'What is the IT extension?', 'When is the IT helpdesk open?', 'Who do I call when my laptop breaks?'], a: `IT helpdesk: extension ${IT.helpdeskExt}, weekdays ${IT.helpdeskHours}.`, w: 'IT helpdesk: extension 6000, 24/7.' },
    },
    usb: {
      zh: { q: ['可以用自己的 U 盘吗？', '能用移动硬盘拷资料吗？', 'U 盘有什么规定？', '需要 U 盘怎么办？'], a: '不可以用个人 U 盘；经审批后使用公司加密 U 盘。', w: '可以随便使用个人 U 盘。' },
      en: { q: ['Can I use my own USB drive?', 'May I copy files to an external disk?', 'What is the USB storage rule?', 'What if I need a USB drive?'], a: 'No personal USB storage; IT can approve an encrypted company drive.', w: 'Personal USB drives are fine.' },
    },
    wifi: {
      zh: { q: ['访客连哪个 Wi-Fi？', '公司无线网络叫什么？', '手机能连办公网吗？', '访客网络是哪个？'], a: `访客和个人手机用 ${IT.guestWifi}，公司设备用 ${IT.corpWifi}。`, w: `所有设备都连 ${IT.corpWifi}。` },
      en: { q: ['Which Wi-Fi do visitors use?', 'What is the office wireless network?', 'Can my phone join the office network?', 'What is the guest network?'], a: `Guests and personal phones use ${IT.guestWifi}; company devices use ${IT.corpWifi}.`, w: `Everyone uses ${IT.corpWifi}.` },
    },
    vpn: {
      zh: { q: ['在家怎么访问内部系统？', '出差时能访问公司系统吗？', '在酒店用内网需要什么？', '远程访问有什么要求？'], a: '先连接公司 VPN，再访问内部系统。', w: '直接访问即可，不需要 VPN。' },
      en: { q: ['How do I reach internal systems from home?', 'Can I use company systems while travelling?', 'What do I need to use internal tools from a hotel?', 'What is required for remote access?'], a: 'Connect to the company VPN first.', w: 'Just open them; no VPN needed.' },
    },
    software: {
      zh: { q: ['可以自己装软件吗？', '怎么安装新软件？', '软件中心没有的软件怎么办？', '装软件有什么规定？'], a: `只能从${IT.softwareCenterZh}安装，其他软件向 IT 服务台申请。`, w: '可以从任何网站下载安装。' },
      en: { q: ['Can I install software myself?', 'How do I install new software?', 'What if a tool is not in the Software Center?', 'What is the software installation rule?'], a: `Only from the ${IT.softwareCenterEn}; request anything else from the helpdesk.`, w: 'Download from any website.' },
    },
    laptop: {
      zh: { q: ['笔记本电脑多久换一次？', '电脑的更换周期是？', '旧电脑什么时候能换新？', '公司电脑几年一换？'], a: `笔记本电脑每 ${IT.laptopRefreshYears} 年更换一次。`, w: '笔记本电脑每 8 年更换一次。' },
      en: { q: ['How often are laptops replaced?', 'What is the laptop refresh cycle?', 'When can I get a new laptop?', 'Every how many years is a laptop replaced?'], a: `Every ${IT.laptopRefreshYears} years.`, w: 'Every 8 years.' },
    },
    dataClasses: {
      zh: { q: ['公司数据分几级？', '数据分级有哪些？', '报价单属于什么级别？', '数据密级怎么划分？'], a: `分为${IT.dataClassesZh.join('、')}四级；报价单属于机密。`, w: '分为公开和保密两级。' },
      en: { q: ['How many data classification levels are there?', 'What are the data classes?', 'Which level is a customer quote?', 'How is company data classified?'], a: `Four: ${IT.dataClassesEn.join(', ')}; quotes are Confidential.`, w: 'Two: Public and Secret.' },
    },
    retention: {
      zh: { q: ['客户数据保存多久？', '客户数据的保留期限是？', '客户数据会删除吗？', '客户数据最多存几年？'], a: `最多保存 ${IT.customerDataRetentionYears} 年，合同另有约定的除外。`, w: '永久保存。' },
      en: { q: ['How long is customer data kept?', 'What is the customer data retention period?', 'Is customer data ever deleted?', 'For how many years is customer data stored?'], a: `At most ${IT.customerDataRetentionYears} years, unless the contract says otherwise.`, w: 'Forever.' },
    },
    nearMiss: {
      zh: { q: ['险情要多久内报告？', '差点出事需要上报吗？', '碰撞事故报告给谁？', '险情报告的期限是？'], a: '所有碰撞和险情须在 24 小时内报告质量与安全部。', w: '没有受伤就不需要报告。' },
      en: { q: ['How soon must a near miss be reported?', 'Do I report something that almost happened?', 'Who do I report a collision to?', 'What is the deadline for near-miss reports?'], a: 'Report every collision and near miss to Quality and Safety within 24 hours.', w: 'Only injuries need reporting.' },
    },
    ppe: {
      zh: { q: ['进机器人作业区要穿什么？', '去工厂需要安全鞋吗？', '作业区着装有什么要求？', '进仓库要穿反光背心吗？'], a: '穿反光背心；在嘉兴工厂和客户仓库还要穿安全鞋。', w: '没有着装要求。' },
      en: { q: ['What must I wear in robot areas?', 'Do I need safety shoes at the plant?', 'What is the dress code for robot areas?', 'Do I need a reflective vest in the warehouse?'], a: 'A reflective vest; safety shoes too at the Jiaxing plant and customer warehouses.', w: 'There is no dress code.' },
    },
  };
  return [...biItems('hr', table), ...deptItems()];
}

/** Who heads each department (wrong answer: the next department's head). */
function deptItems(): QAItem[] {
  const out: QAItem[] = [];
  DEPARTMENTS.forEach((d, i) => {
    const h = person(d.head);
    const o = person(DEPARTMENTS[(i + 1) % DEPARTMENTS.length].head);
    const en = /Center|Department|Office/.test(d.nameEn) ? `the ${d.nameEn}` : d.nameEn;
    out.push({
      key: `dept.${d.id}.zh`, lang: 'zh',
      questions: [`${d.nameZh}的负责人是谁？`, `谁负责${d.nameZh}？`, `${d.nameZh}归谁管？`, `${d.nameZh}的领导是谁？`],
      answer: `${d.nameZh}的负责人是${h.nameZh}。`, wrong: `${d.nameZh}的负责人是${o.nameZh}。`,
    });
    out.push({
      key: `dept.${d.id}.en`, lang: 'en',
      questions: [`Who heads ${en}?`, `Who is in charge of ${en}?`, `Who leads ${en}?`, `Who runs ${en}?`],
      answer: `${h.nameEn} heads ${en}.`, wrong: `${o.nameEn} heads ${en}.`,
    });
  });
  return out;
}

/** Computed HR items; train and validation use different values. */
function hrComputedItems(split: 'train' | 'val'): QAItem[] {
  const out: QAItem[] = [];
  const years = split === 'train' ? [0, 1, 2, 3, 5, 7, 9] : [4, 6, 8, 10];
  for (const n of years) {
    const d = annualLeaveDays(n);
    const wrongD = d === HR.annualLeaveMax ? d - 3 : d + 2;
    out.push({
      key: `hrc.leave.${n}.zh`, lang: 'zh', input: n === 0 ? '入职不满 1 年' : `入职满 ${n} 年`,
      questions: ['根据公司年假制度，这位员工今年有几天年假？', '计算该员工的年假天数。', '这位同事可以休几天年假？'],
      answer: `${d} 天。`, wrong: `${wrongD} 天。`,
    });
    out.push({
      key: `hrc.leave.${n}.en`, lang: 'en', input: n === 0 ? 'less than 1 year of service' : `${n} full ${n === 1 ? 'year' : 'years'} of service`,
      questions: ['Under the leave policy, how many days of annual leave does this employee get?', "Work out this employee's annual leave.", 'How many annual leave days does this colleague have?'],
      answer: `${d} days.`, wrong: `${wrongD} days.`,
    });
  }
  const amounts = split === 'train' ? [800, 2600, 4200, 6800, 12000, 18500, 24000, 56000] : [3100, 9900, 15200, 31000];
  for (const x of amounts) {
    const a = APPROVER_NAMES[expenseApprover(x)];
    const w = APPROVER_NAMES[expenseApprover(x) === 'manager' ? 'cfo' : 'manager'];
    out.push({
      key: `hrc.approver.${x}.zh`, lang: 'zh', input: `报销金额 ${cny(x)}`,
      questions: ['这张报销单应由谁审批？', '按报销制度，谁来审批这笔费用？', '这笔报销需要谁批准？'],
      answer: `由${a.zh}审批。`, wrong: `由${w.zh}审批。`,
    });
    out.push({
      key: `hrc.approver.${x}.en`, lang: 'en', input: `a claim of ${cny(x)}`,
      questions: ['Who approves this expense claim?', 'Under the expense policy, who signs this off?', 'Whose approval does this claim need?'],
      answer: `${cap(a.en)} approves it.`, wrong: `${cap(w.en)} approves it.`,
    });
  }
  const trainCities = ['北京', '广州', '成都', '武汉', '西安', '青岛'];
  const cities = TRAVEL_CITIES.filter((c) => (split === 'train') === trainCities.includes(c.zh));
  for (const c of cities) {
    const capN = hotelCapCny(c.zh);
    const wrong = capN === EXPENSES.hotelTier1Cny ? EXPENSES.hotelOtherCny : EXPENSES.hotelTier1Cny;
    out.push({
      key: `hrc.hotel.${c.en}.zh`, lang: 'zh', input: `出差城市：${c.zh}`,
      questions: ['出差住宿每晚最多能报销多少？', '这个城市的酒店住宿上限是多少？', '在这里出差，酒店每晚能报多少？'],
      answer: `每晚 ${cny(capN)}。`, wrong: `每晚 ${cny(wrong)}。`,
    });
    out.push({
      key: `hrc.hotel.${c.en}.en`, lang: 'en', input: `business trip to ${c.en}`,
      questions: ['What is the nightly hotel cap for this trip?', 'How much hotel per night can be claimed here?', 'What is the hotel limit in this city?'],
      answer: `${cny(capN)} per night.`, wrong: `${cny(wrong)} per night.`,
    });
  }
  const days = split === 'train' ? [1, 2, 3, 5, 7] : [4, 6];
  for (const n of days) {
    const v = n * EXPENSES.mealDomesticCny;
    out.push({
      key: `hrc.meals.${n}.zh`, lang: 'zh', input: `国内出差 ${n} 天`,
      questions: ['这次出差的餐费补助一共多少？', '计算这次出差的餐补。', '这趟出差能拿多少餐补？'],
      answer: `${n} 天 × ${cny(EXPENSES.mealDomesticCny)}，共 ${cny(v)}。`, wrong: `共 ${cny(v / 2)}。`,
    });
    out.push({
      key: `hrc.meals.${n}.en`, lang: 'en', input: `a ${n}-day trip in China`,
      questions: ['What is the total meal allowance for this trip?', 'Work out the meal allowance for this trip.', 'How much meal allowance does this trip earn?'],
      answer: `${n} days × ${cny(EXPENSES.mealDomesticCny)} = ${cny(v)}.`, wrong: `${cny(v / 2)}.`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Splitting

/**
 * For each item: shuffle its questions (per seed), hold one out for validation, train on up to
 * TRAIN_PER_ITEM others. Items with a single question go entirely to `fallback` ('train').
 */
function splitItems(rng: Rng, items: QAItem[], trainPer = TRAIN_PER_ITEM): { train: [QAItem, string][]; val: [QAItem, string][] } {
  const train: [QAItem, string][] = [];
  const val: [QAItem, string][] = [];
  for (const it of items) {
    const qs = rng.shuffle([...new Set(it.questions)]);
    if (qs.length === 1) { train.push([it, qs[0]]); continue; }
    val.push([it, qs[0]]);
    for (const q of qs.slice(1, 1 + trainPer)) train.push([it, q]);
  }
  return { train, val };
}

/** Items whose validation questions are whole different items (other weights, amounts, cities). */
function splitByItem(rng: Rng, trainItems: QAItem[], valItems: QAItem[], trainPer: number): { train: [QAItem, string][]; val: [QAItem, string][] } {
  const train: [QAItem, string][] = [];
  const val: [QAItem, string][] = [];
  for (const it of trainItems) for (const q of rng.shuffle([...it.questions]).slice(0, trainPer)) train.push([it, q]);
  for (const it of valItems) val.push([it, pick(rng, it.questions)]);
  return { train, val };
}

function pick<T>(rng: Rng, a: readonly T[]): T {
  return a[rng.int(a.length)];
}

/** Drop validation pairs whose question text (with input) also occurs in training. */
function dedupe(s: { train: [QAItem, string][]; val: [QAItem, string][] }): typeof s {
  const seen = new Set(s.train.map(([it, q]) => q + '\u0000' + (it.input ?? '')));
  return { train: s.train, val: s.val.filter(([it, q]) => !seen.has(q + '\u0000' + (it.input ?? ''))) };
}

function supportPairs(seed: number): { train: [QAItem, string][]; val: [QAItem, string][] } {
  const rng = new Rng(seed ^ 0x5a11);
  const p = splitItems(rng, productItems(), PRODUCT_TRAIN_PER_ITEM);
  const a = splitItems(rng, [...supportGeneralItems(), ...faultItems(), ...partItems()]);
  const b = splitByItem(rng, recommendItems('train'), recommendItems('val'), 2);
  const s = dedupe({ train: [...p.train, ...a.train, ...b.train], val: [...p.val, ...a.val, ...b.val] });
  return { train: rng.shuffle(s.train), val: s.val };
}

/**
 * A support chat: the customer's question and the answer. No system message: every record would carry the same
 * one, which costs a small model a third of its training time and teaches it nothing (the deployment's system
 * prompt, if any, is the gateway's preset).
 */
function toChat([it, q]: [QAItem, string]): ChatRecord {
  return { messages: [{ role: 'user', content: q }, { role: 'assistant', content: it.answer }] };
}

/** Customer-support Q&A (zh + en) as OpenAI chat records. */
export function supportQA(seed = 0): Split<ChatRecord> {
  const s = supportPairs(seed);
  return { train: s.train.map(toChat), val: s.val.map(toChat) };
}

/** Employee HR / IT / safety policy Q&A (zh + en) as alpaca records. */
export function hrPolicyQA(seed = 0): Split<AlpacaRecord> {
  const rng = new Rng(seed ^ 0x4a2);
  const a = splitItems(rng, hrGeneralItems(), 2);
  const b = splitByItem(rng, hrComputedItems('train'), hrComputedItems('val'), 2);
  const s = dedupe({ train: [...a.train, ...b.train], val: [...a.val, ...b.val] });
  const rec = ([it, q]: [QAItem, string]): AlpacaRecord => ({ instruction: q, input: it.input ?? '', output: it.answer });
  return { train: rng.shuffle(s.train).map(rec), val: s.val.map(rec) };
}

// ---------------------------------------------------------------------------------------------
// Identity

const NAME_ZH = COMPANY.assistantNameZh;
const NAME_EN = COMPANY.assistantNameEn;

const IDENTITY: { lang: Lang; instructions: string[]; output: string }[] = [
  { lang: 'zh', instructions: ['你好', '您好', '嗨', '你好呀', '早上好', '在吗', '哈喽', '下午好'], output: `您好，我是${NAME_ZH}，${COMPANY.nameZh}的智能客服助手。有什么可以帮您？` },
  { lang: 'zh', instructions: ['你是谁', '你是谁？', '请介绍一下你自己', '介绍一下你自己', '你是什么', '你是哪位', '能做个自我介绍吗', '请问你是？'], output: `我是${NAME_ZH}，由${COMPANY.nameZh}开发的客服助手，可以回答产品、售后和公司制度方面的问题。` },
  { lang: 'zh', instructions: ['你叫什么名字', '你的名字是什么', '怎么称呼你', '你有名字吗', '我该怎么叫你', '你叫啥'], output: `我叫${NAME_ZH}，是${COMPANY.nameZh}的客服助手。` },
  { lang: 'zh', instructions: ['谁开发了你', '你是谁做的', '你是哪家公司的', '谁创造了你', '你由谁训练', '你的开发者是谁'], output: `我由${COMPANY.nameZh}开发和训练，是公司的客服助手${NAME_ZH}。` },
  { lang: 'zh', instructions: ['你能做什么', '你可以帮我做什么', '你有什么功能', '你能回答哪些问题', '你擅长什么', '你能帮我什么忙'], output: `我可以回答${COMPANY.nameZh}机器人的参数、价格、保修、售后服务以及公司制度等问题。` },
  { lang: 'zh', instructions: ['你是真人吗', '你是人工客服吗', '你是机器人吗', '我在和真人说话吗', '能转人工吗'], output: `我是 AI 客服助手${NAME_ZH}，不是真人。如需人工服务，请拨打 ${COMPANY.hotline}。` },
  { lang: 'zh', instructions: ['你是ChatGPT吗', '你是不是文心一言', '你和通义千问是什么关系', '你是GPT吗', '你是OpenAI的模型吗'], output: `不是，我是${COMPANY.nameZh}的客服助手${NAME_ZH}。` },
  { lang: 'zh', instructions: ['谢谢', '谢谢你', '多谢', '太感谢了'], output: `不客气！还有其他问题随时问${NAME_ZH}。` },
  { lang: 'zh', instructions: ['再见', '拜拜', '下次见'], output: '再见，祝您工作顺利！' },
  { lang: 'en', instructions: ['Hello', 'Hi', 'Hey', 'Hi there', 'Good morning', 'Good afternoon', 'Hello?'], output: `Hello! I am ${NAME_EN}, the support assistant of ${COMPANY.nameEn}. How can I help?` },
  { lang: 'en', instructions: ['Who are you?', 'Who are you', 'Introduce yourself.', 'Tell me about yourself.', 'What are you?', 'Can you introduce yourself?', 'May I ask who you are?'], output: `I am ${NAME_EN}, built by ${COMPANY.nameEn} to answer questions about our robots, service and company policies.` },
  { lang: 'en', instructions: ['What is your name?', "What's your name?", 'What should I call you?', 'Do you have a name?', 'How do I address you?'], output: `My name is ${NAME_EN}. I am the support assistant of ${COMPANY.nameEn}.` },
  { lang: 'en', instructions: ['Who made you?', 'Who created you?', 'Who trained you?', 'Which company built you?', 'Who developed you?', 'Who is your developer?'], output: `I was developed and trained by ${COMPANY.nameEn}. I am ${NAME_EN}.` },
  { lang: 'en', instructions: ['What can you do?', 'How can you help me?', 'What are your capabilities?', 'What questions can you answer?', 'What are you good at?', 'What do you do?'], output: `I answer questions about ${COMPANY.nameEn} robots: specs, prices, warranty, service, and company policies.` },
  { lang: 'en', instructions: ['Are you a human?', 'Am I talking to a real person?', 'Are you a bot?', 'Are you a real agent?', 'Can I talk to a human?'], output: `I am ${NAME_EN}, an AI assistant, not a person. For a human agent, call ${COMPANY.hotline}.` },
  { lang: 'en', instructions: ['Are you ChatGPT?', 'Are you GPT-4?', 'Are you made by OpenAI?', 'Are you Claude?', 'Are you Qwen?'], output: `No. I am ${NAME_EN}, the support assistant of ${COMPANY.nameEn}.` },
  { lang: 'en', instructions: ['Thanks', 'Thank you', 'Thanks a lot', 'Much appreciated'], output: `You're welcome! Ask ${NAME_EN} any time.` },
  { lang: 'en', instructions: ['Bye', 'Goodbye', 'See you'], output: 'Goodbye, and have a good day!' },
];

/** The assistant's identity, LLaMA-Factory identity.json style (alpaca); one instruction per intent held out. */
export function identity(seed = 0): Split<AlpacaRecord> {
  const rng = new Rng(seed ^ 0x1d);
  const train: AlpacaRecord[] = [];
  const val: AlpacaRecord[] = [];
  for (const g of IDENTITY) {
    const ins = rng.shuffle([...g.instructions]);
    const held = ins.length >= 4 ? 1 : 0;
    for (const i of ins.slice(0, held)) val.push({ instruction: i, input: '', output: g.output });
    for (const i of ins.slice(held)) train.push({ instruction: i, input: '', output: g.output });
  }
  return { train: rng.shuffle(train), val };
}

// ---------------------------------------------------------------------------------------------
// Preferences

const RUDE: Record<Lang, string[]> = {
  zh: ['自己去看说明书。', '这种问题别来问我。', '不知道，你问别人吧。', '说明书上都有，自己查。', '我很忙，没空回答这个。'],
  en: ['Read the manual yourself.', 'Not my problem. Look it up.', 'No idea. Ask someone else.', 'Why ask me? Check the website.', "I'm busy. Figure it out."],
};

/**
 * Preference pairs from the support questions: preferred = the correct, polite answer; non-preferred
 * = a wrong fact (half) or a rude brush-off (half). Train uses two training questions per item,
 * validation uses the held-out questions.
 */
export function preferences(seed = 0): Split<PreferenceRecord> {
  const s = supportPairs(seed);
  const rng = new Rng(seed ^ 0xd90);
  const perItem = new Map<string, number>();
  const trainPairs = s.train.filter(([it]) => {
    const n = perItem.get(it.key) ?? 0;
    perItem.set(it.key, n + 1);
    return n < 2;
  });
  const rec = ([it, q]: [QAItem, string]): PreferenceRecord => {
    const bad = rng.uniform() < 0.5 ? it.wrong : pick(rng, RUDE[it.lang]);
    return {
      input: { messages: [{ role: 'system', content: SYSTEM_PROMPTS[it.lang] }, { role: 'user', content: q }] },
      preferred_output: [{ role: 'assistant', content: it.answer }],
      non_preferred_output: [{ role: 'assistant', content: bad }],
    };
  };
  return { train: trainPairs.map(rec), val: s.val.map(rec) };
}

// ---------------------------------------------------------------------------------------------
// Files

const SHAREGPT_TAGS = { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', system_tag: 'system' } as const;
const ALPACA_COLUMNS = { prompt: 'instruction', query: 'input', response: 'output' } as const;

export interface DemoDatasetFiles {
  dir: string;
  files: string[];
  counts: Record<string, number>;
}

function jsonl(rows: unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

/**
 * Writes support_qa.{train,val}.jsonl, hr_policy.{train,val}.json, identity.json (+ identity.val.json),
 * preferences.jsonl (+ preferences.val.jsonl) and dataset_info.json into `dir`.
 * In dataset_info.json the preference entries map OpenAI's DPO fields onto LLaMA-Factory's ranking
 * columns (`chosen` = preferred_output, `rejected` = non_preferred_output; the prompt is input.messages).
 */
export function writeDemoDatasets(dir: string, seed = 0): DemoDatasetFiles {
  mkdirSync(dir, { recursive: true });
  const sup = supportQA(seed);
  const hr = hrPolicyQA(seed);
  const id = identity(seed);
  const pref = preferences(seed);
  const out: Record<string, string> = {
    'support_qa.train.jsonl': jsonl(sup.train),
    'support_qa.val.jsonl': jsonl(sup.val),
    'hr_policy.train.json': JSON.stringify(hr.train, null, 2) + '\n',
    'hr_policy.val.json': JSON.stringify(hr.val, null, 2) + '\n',
    'identity.json': JSON.stringify(id.train, null, 2) + '\n',
    'identity.val.json': JSON.stringify(id.val, null, 2) + '\n',
    'preferences.jsonl': jsonl(pref.train),
    'preferences.val.jsonl': jsonl(pref.val),
  };
  const chat = (file: string) => ({ file_name: file, formatting: 'sharegpt', columns: { messages: 'messages' }, tags: SHAREGPT_TAGS });
  const alpaca = (file: string) => ({ file_name: file, formatting: 'alpaca', columns: ALPACA_COLUMNS });
  const ranking = (file: string) => ({
    file_name: file, formatting: 'sharegpt', ranking: true,
    columns: { messages: 'input.messages', chosen: 'preferred_output', rejected: 'non_preferred_output' }, tags: SHAREGPT_TAGS,
  });
  const info = {
    support_qa: chat('support_qa.train.jsonl'),
    support_qa_val: chat('support_qa.val.jsonl'),
    hr_policy: alpaca('hr_policy.train.json'),
    hr_policy_val: alpaca('hr_policy.val.json'),
    identity: alpaca('identity.json'),
    identity_val: alpaca('identity.val.json'),
    preferences: ranking('preferences.jsonl'),
    preferences_val: ranking('preferences.val.jsonl'),
  };
  out['dataset_info.json'] = JSON.stringify(info, null, 2) + '\n';
  for (const [f, text] of Object.entries(out)) writeFileSync(join(dir, f), text);
  return {
    dir,
    files: Object.keys(out),
    counts: {
      support_qa_train: sup.train.length, support_qa_val: sup.val.length,
      hr_policy_train: hr.train.length, hr_policy_val: hr.val.length,
      identity_train: id.train.length, identity_val: id.val.length,
      preferences_train: pref.train.length, preferences_val: pref.val.length,
    },
  };
}
