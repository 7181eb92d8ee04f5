/**
 * The demo's pretraining text: `loadDemoCorpus()` reads the hand-written Markdown in demo/corpus/,
 * and `generateDemoText(seed, approxChars)` writes more of it, deterministically per seed, from the
 * fact table in facts.ts (tickets, orders, maintenance logs, meeting notes, FAQ, spec sheets, leave
 * and expense forms, quotes, returns, ...) in Chinese (~60%) and English. Every number it writes
 * comes from facts.ts or is computed from it, so the generated text agrees with the Markdown.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Rng } from '../engine/rng.ts';
import {
  APPROVER_NAMES, COMPANY, CUSTOMERS, DEPARTMENTS, ERROR_CODES, EXPENSES, HR, IT, OFFICES, PARTS, PEOPLE,
  PRODUCTS, RELEASES, ROBOT_COMMON, SALES, SERVICE_PLANS, SOFTWARE, STAFF, TICKET_PRIORITIES, TRAVEL_CITIES, WARRANTY,
  annualLeaveDays, cny, expenseApprover, extendedWarrantyCny, hotelCapCny, person, productForPayload, usd,
  type Customer, type Lang, type Product, type ServicePlan,
} from './facts.ts';

export interface CorpusDoc {
  name: string;
  lang: Lang;
  text: string;
}

/** Directory of the hand-written Markdown corpus (repo-root/demo/corpus). */
export const DEMO_CORPUS_DIR = fileURLToPath(new URL('../../demo/corpus/', import.meta.url));

/** Share of CJK ideographs among letters and ideographs; > 0.3 reads as Chinese. */
export function cjkShare(text: string): number {
  let cjk = 0;
  let latin = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x4e00 && c <= 0x9fff) cjk++;
    else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) latin++;
  }
  return cjk + latin === 0 ? 0 : cjk / (cjk + latin);
}

/**
 * The hand-written corpus, sorted by file name. Language comes from the `zh-` / `en-` file-name
 * prefix, or from the text itself for files named otherwise.
 */
export function loadDemoCorpus(dir: string = DEMO_CORPUS_DIR): CorpusDoc[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const lang: Lang = f.startsWith('zh-') ? 'zh' : f.startsWith('en-') ? 'en' : cjkShare(text) > 0.3 ? 'zh' : 'en';
      return { name: f.replace(/\.md$/, ''), lang, text };
    });
}

// ---------------------------------------------------------------------------------------------
// Generation helpers

type G = { rng: Rng; lang: Lang };

function pick<T>(rng: Rng, a: readonly T[]): T {
  return a[rng.int(a.length)];
}

function chance(rng: Rng, p: number): boolean {
  return rng.uniform() < p;
}

function pickN<T>(rng: Rng, a: readonly T[], n: number): T[] {
  return rng.shuffle([...a]).slice(0, Math.min(n, a.length));
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function kg(n: number): string {
  return `${num(n)} kg`;
}

function ms(n: number): string {
  return `${n.toFixed(1)} m/s`;
}

function hoursEn(n: number): string {
  return n === 1 ? '1 hour' : `${n} hours`;
}

function yearsEn(n: number): string {
  return n === 1 ? '1 year' : `${n} years`;
}

const MONTHS_EN = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

interface Day { y: number; m: number; d: number }

function randomDay(rng: Rng): Day {
  return { y: 2023 + rng.int(3), m: 1 + rng.int(12), d: 1 + rng.int(28) };
}

function addDays(day: Day, n: number): Day {
  const t = new Date(Date.UTC(day.y, day.m - 1, day.d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

function fmtDay(g: G, day: Day): string {
  if (g.lang === 'zh') return `${day.y} 年 ${day.m} 月 ${day.d} 日`;
  return chance(g.rng, 0.5) ? `${day.d} ${MONTHS_EN[day.m - 1]} ${day.y}` : `${day.y}-${pad(day.m, 2)}-${pad(day.d, 2)}`;
}

/** A serial number: model, build year and month (not before launch, not after `year`), running number. */
function serial(rng: Rng, p: Product, year: number): string {
  const from = Math.min(year, Math.max(p.launchYear, year - 3));
  const y = from + rng.int(year - from + 1);
  return `${p.code}-${pad(y % 100, 2)}${pad(1 + rng.int(12), 2)}-${pad(rng.int(10000), 4)}`;
}

function ticketId(rng: Rng, year: number): string {
  return `SR-${year}-${pad(rng.int(100000), 5)}`;
}

const EMPLOYEES: readonly { zh: string; en: string }[] = [
  { zh: '张伟', en: 'Zhang Wei' }, { zh: '王芳', en: 'Wang Fang' }, { zh: '李强', en: 'Li Qiang' }, { zh: '刘洋', en: 'Liu Yang' },
  { zh: '陈晨', en: 'Chen Chen' }, { zh: '杨帆', en: 'Yang Fan' }, { zh: '黄磊', en: 'Huang Lei' }, { zh: '周敏', en: 'Zhou Min' },
  { zh: '吴迪', en: 'Wu Di' }, { zh: '徐丽', en: 'Xu Li' }, { zh: '孙悦', en: 'Sun Yue' }, { zh: '马超', en: 'Ma Chao' },
  { zh: '朱琳', en: 'Zhu Lin' }, { zh: '胡斌', en: 'Hu Bin' }, { zh: '郭佳', en: 'Guo Jia' }, { zh: '高远', en: 'Gao Yuan' },
  { zh: 'Sarah Tan', en: 'Sarah Tan' }, { zh: 'Marcus Lee', en: 'Marcus Lee' }, { zh: 'Lotte Jansen', en: 'Lotte Jansen' }, { zh: 'Pieter Visser', en: 'Pieter Visser' },
];

const CONTACT_SURNAMES: readonly { zh: string; en: string }[] = [
  { zh: '杨', en: 'Yang' }, { zh: '钱', en: 'Qian' }, { zh: '冯', en: 'Feng' }, { zh: '秦', en: 'Qin' }, { zh: '邓', en: 'Deng' },
  { zh: '彭', en: 'Peng' }, { zh: '曹', en: 'Cao' }, { zh: '袁', en: 'Yuan' }, { zh: '谢', en: 'Xie' }, { zh: '唐', en: 'Tang' },
];

function contact(g: G): string {
  const s = pick(g.rng, CONTACT_SURNAMES);
  return g.lang === 'zh' ? s.zh + pick(g.rng, ['经理', '主管', '工程师', '先生', '女士']) : `${pick(g.rng, ['Mr.', 'Ms.'])} ${s.en}`;
}

function emp(g: G): string {
  const e = pick(g.rng, EMPLOYEES);
  return g.lang === 'zh' ? e.zh : e.en;
}

/** A support or field engineer (`engineer`), or an account manager. */
function staff(g: G, role: 'engineer' | 'account' = 'engineer'): string {
  const pool = STAFF.filter((s) => (role === 'engineer' ? /engineer/.test(s.roleEn) : s.roleEn === 'account manager'));
  const s = pick(g.rng, pool);
  return g.lang === 'zh' ? s.nameZh : s.nameEn;
}

/** Years of service an employee can have: the company dates from 2016. */
const MAX_SERVICE_YEARS = 9;

/** A customer; `domestic` keeps to mainland-China customers, whose papers are priced in CNY. */
function cust(g: G, domestic = false): Customer {
  return pick(g.rng, domestic ? CUSTOMERS.filter((c) => c.cityEn !== 'Singapore' && c.cityEn !== 'Rotterdam') : CUSTOMERS);
}

function cname(g: G, c: Customer): string {
  return g.lang === 'zh' ? c.nameZh : c.nameEn;
}

/** A short way to refer to a product, varied. */
function pref(g: G, p: Product): string {
  if (g.lang === 'zh') return pick(g.rng, [p.code, `${p.code} ${p.typeZh}`, `云杉 ${p.code}`, `${p.code}（${p.nicknameZh}）`]);
  return pick(g.rng, [`the ${p.code}`, `the ${p.code} ${p.typeEn}`, `the Spruce ${p.code}`, `the ${p.code} (${p.nicknameEn})`]);
}

/** Drop the space a substitution leaves between two Chinese characters ("机器人 的" -> "机器人的"). */
function tidyZh(s: string): string {
  return s.replace(/([\u4e00-\u9fff）”])[ ]+(?=[\u4e00-\u9fff（“])/g, '$1');
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function plan(g: G, pl: ServicePlan): string {
  return g.lang === 'zh' ? pl.nameZh : `the ${pl.nameEn}`;
}

// One sentence stating one product fact, in many phrasings.
function productFactSentence(g: G, p: Product, attr: string): string {
  const zh = g.lang === 'zh';
  const r = pref(g, p);
  const R = zh ? r : cap(r);
  switch (attr) {
    case 'payload':
      return zh ? pick(g.rng, [`${r} 的额定载重为 ${kg(p.payloadKg)}。`, `${r} 最多可以搬运 ${kg(p.payloadKg)} 的货物。`, `${r} 的额定载重是 ${kg(p.payloadKg)}。`])
        : pick(g.rng, [`${R} carries up to ${kg(p.payloadKg)}.`, `${R} has a payload of ${kg(p.payloadKg)}.`, `The payload of ${r} is ${kg(p.payloadKg)}.`]);
    case 'speed':
      return zh ? pick(g.rng, [`${r} 的最高速度为 ${ms(p.speedMs)}。`, `${r} 最快可以跑到 ${ms(p.speedMs)}。`])
        : pick(g.rng, [`${R} has a top speed of ${ms(p.speedMs)}.`, `${R} drives at up to ${ms(p.speedMs)}.`]);
    case 'runtime':
      return zh ? pick(g.rng, [`${r} 充满电约可运行 ${p.runtimeH} 小时。`, `${r} 的续航约为 ${p.runtimeH} 小时。`])
        : pick(g.rng, [`${R} runs about ${hoursEn(p.runtimeH)} on a charge.`, `${R} has a runtime of about ${hoursEn(p.runtimeH)}.`]);
    case 'charge':
      return zh ? pick(g.rng, [`${r} 充满电约需 ${p.chargeH} 小时。`, `${r} 的充电时间约为 ${p.chargeH} 小时。`])
        : pick(g.rng, [`${R} charges in about ${hoursEn(p.chargeH)}.`, `${R} needs about ${hoursEn(p.chargeH)} to charge.`]);
    case 'battery':
      return zh ? `${r} 配备 ${p.batteryKwh} kWh ${ROBOT_COMMON.batteryChemistryZh}电池。` : `${R} has a ${p.batteryKwh} kWh ${ROBOT_COMMON.batteryChemistryEn} battery.`;
    case 'nav':
      return zh ? pick(g.rng, [`${r} 使用${p.navZh}。`, `${r} 的导航方式是${p.navZh}。`]) : `${R} uses ${p.navEn}.`;
    case 'price':
      return zh ? pick(g.rng, [`${r} 的售价为 ${cny(p.priceCny)}。`, `${r} 的标价是 ${cny(p.priceCny)}。`])
        : pick(g.rng, [`${R} has a list price of ${cny(p.priceCny)} (${usd(p.priceUsd)} outside China).`, `${R} is priced at ${cny(p.priceCny)} in China.`, `The list price of ${r} is ${usd(p.priceUsd)} outside China.`]);
    case 'warranty':
      return zh ? pick(g.rng, [`${r} 的保修期为 ${p.warrantyYears} 年。`, `${r} 保修 ${p.warrantyYears} 年。`])
        : pick(g.rng, [`${R} comes with a ${p.warrantyYears}-year warranty.`, `${R} is under warranty for ${yearsEn(p.warrantyYears)}.`]);
    case 'weight':
      return zh ? `${r} 的整机重量为 ${kg(p.weightKg)}。` : `${R} weighs ${kg(p.weightKg)}.`;
    case 'ip':
      return zh ? `${r} 的防护等级为 ${p.ip}。` : `${R} is rated ${p.ip}.`;
    case 'launch':
      return zh ? `${r} 于 ${p.launchYear} 年发布。` : `${R} was launched in ${p.launchYear}.`;
    case 'nickname':
      return zh ? `${p.code} 的昵称是“${p.nicknameZh}”。` : `The ${p.code}'s nickname is the ${p.nicknameEn}.`;
    default:
      return zh ? `${r} 适用于${p.useZh}。` : `${R} is built for ${p.useEn}.`;
  }
}

const PRODUCT_ATTRS = ['payload', 'speed', 'runtime', 'charge', 'battery', 'nav', 'price', 'warranty', 'weight', 'ip', 'launch', 'nickname', 'use'];

// ---------------------------------------------------------------------------------------------
// Document templates. Each writes one short document in g.lang.

function docSpecSheet(g: G): string {
  const p = pick(g.rng, PRODUCTS);
  const zh = g.lang === 'zh';
  const rows: [string, string][] = zh ? [
    ['额定载重', kg(p.payloadKg)], ['最高速度', ms(p.speedMs)], ['电池', `${p.batteryKwh} kWh ${ROBOT_COMMON.batteryChemistryZh}`],
    ['续航', `约 ${p.runtimeH} 小时`], ['充电时间', `约 ${p.chargeH} 小时`], ['导航方式', p.navZh], ['整机重量', kg(p.weightKg)],
    ['防护等级', p.ip], ['工作温度', ROBOT_COMMON.operatingTempZh], ['保修期', `${p.warrantyYears} 年`], ['售价', cny(p.priceCny)],
  ] : [
    ['Payload', kg(p.payloadKg)], ['Top speed', ms(p.speedMs)], ['Battery', `${p.batteryKwh} kWh ${ROBOT_COMMON.batteryChemistryEn}`],
    ['Runtime', `about ${hoursEn(p.runtimeH)}`], ['Charging time', `about ${hoursEn(p.chargeH)}`], ['Navigation', p.navEn], ['Weight', kg(p.weightKg)],
    ['Ingress protection', p.ip], ['Operating temperature', ROBOT_COMMON.operatingTempEn], ['Warranty', yearsEn(p.warrantyYears)], ['List price', `${cny(p.priceCny)} / ${usd(p.priceUsd)}`],
  ];
  if (p.liftHeightM) rows.splice(1, 0, zh ? ['最大举升高度', `${p.liftHeightM} m`] : ['Lift height', `${p.liftHeightM} m`]);
  const title = zh ? `## ${p.nameZh}（${p.nicknameZh}）规格表` : `## ${p.nameEn} ("${p.nicknameEn}") spec sheet`;
  const style = g.rng.int(3);
  const body = style === 0
    ? [zh ? '| 项目 | 参数 |' : '| Item | Value |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)]
    : style === 1 ? rows.map(([k, v]) => `- ${k}${zh ? '：' : ': '}${v}`)
      : rows.map(([k, v]) => `${k}${zh ? '：' : ': '}${v}`);
  const intro = zh ? `${p.code} 是一款${p.typeZh}，${p.launchYear} 年发布，适用于${p.useZh}。`
    : `The ${p.code} is a ${p.typeEn}, launched in ${p.launchYear}, built for ${p.useEn}.`;
  return [title, '', intro, '', ...body].join('\n');
}

function docProductParagraph(g: G): string {
  const p = pick(g.rng, PRODUCTS);
  const attrs = pickN(g.rng, PRODUCT_ATTRS, 4 + g.rng.int(4));
  const head = g.lang === 'zh' ? `### 关于 ${p.code}` : `### About the ${p.code}`;
  return [head, '', attrs.map((a) => productFactSentence(g, p, a)).join(g.lang === 'zh' ? '' : ' ')].join('\n');
}

function docComparison(g: G): string {
  const [a, b] = pickN(g.rng, PRODUCTS, 2);
  const zh = g.lang === 'zh';
  const lines: string[] = [zh ? `### ${a.code} 与 ${b.code} 对比` : `### ${a.code} vs ${b.code}`, ''];
  const cmp = (x: number, y: number, more: string, less: string, same: string) => (x > y ? more : x < y ? less : same);
  if (zh) {
    lines.push(`${a.code} 的额定载重为 ${kg(a.payloadKg)}，${b.code} 为 ${kg(b.payloadKg)}，${cmp(a.payloadKg, b.payloadKg, `${a.code} 能搬更重的货物`, `${b.code} 能搬更重的货物`, '两者相同')}。`);
    lines.push(`速度方面，${a.code} 最高 ${ms(a.speedMs)}，${b.code} 最高 ${ms(b.speedMs)}，${cmp(a.speedMs, b.speedMs, `${a.code} 更快`, `${b.code} 更快`, '两者一样快')}。`);
    lines.push(`续航方面，${a.code} 约 ${a.runtimeH} 小时，${b.code} 约 ${b.runtimeH} 小时。`);
    lines.push(`价格方面，${a.code} 的售价为 ${cny(a.priceCny)}，${b.code} 的售价为 ${cny(b.priceCny)}。`);
    lines.push(`保修方面，${a.code} 保修 ${a.warrantyYears} 年，${b.code} 保修 ${b.warrantyYears} 年。`);
  } else {
    lines.push(`The ${a.code} carries up to ${kg(a.payloadKg)} and the ${b.code} up to ${kg(b.payloadKg)}, so ${cmp(a.payloadKg, b.payloadKg, `the ${a.code} takes heavier loads`, `the ${b.code} takes heavier loads`, 'they carry the same')}.`);
    lines.push(`On speed, the ${a.code} reaches ${ms(a.speedMs)} and the ${b.code} ${ms(b.speedMs)}; ${cmp(a.speedMs, b.speedMs, `the ${a.code} is faster`, `the ${b.code} is faster`, 'they are equally fast')}.`);
    lines.push(`On runtime, the ${a.code} lasts about ${hoursEn(a.runtimeH)} and the ${b.code} about ${hoursEn(b.runtimeH)}.`);
    lines.push(`On price, the ${a.code} list price is ${cny(a.priceCny)} and the ${b.code} list price is ${cny(b.priceCny)}.`);
    lines.push(`On warranty, the ${a.code} has ${yearsEn(a.warrantyYears)} and the ${b.code} has ${yearsEn(b.warrantyYears)}.`);
  }
  return lines.join('\n');
}

function docRecommendation(g: G): string {
  const zh = g.lang === 'zh';
  const weight = pick(g.rng, [8, 12, 15, 18, 25, 30, 35, 40, 45, 60, 80, 120, 150, 200, 250, 280, 350, 500, 650, 800, 900, 1000, 1100, 1300, 1400, 1800]);
  const p = productForPayload(weight);
  const c = cust(g);
  const who = contact(g);
  if (!p) {
    return zh ? `**客户咨询**：${cname(g, c)}的${who}问，有没有能搬 ${kg(weight)} 货物的机器人？\n**回复**：目前载重最大的是 F1500 无人叉车，额定载重为 1,500 kg，${kg(weight)} 超出了所有机型的额定载重，建议拆分货物或联系售前工程师评估。`
      : `**Customer question:** ${who} from ${cname(g, c)} asks whether any robot can move ${kg(weight)}.\n**Reply:** Our highest payload is the F1500 forklift at 1,500 kg. ${kg(weight)} exceeds every model's payload, so we suggest splitting the load or asking a pre-sales engineer to assess it.`;
  }
  if (zh) {
    return [`**客户咨询**：${cname(g, c)}的${who}问：“我们的货物单件大约 ${kg(weight)}，用哪款机器人合适？”`,
      `**回复**：推荐 ${p.nameZh}（${p.nicknameZh}），额定载重 ${kg(p.payloadKg)}，能满足 ${kg(weight)} 的需求。${productFactSentence(g, p, 'nav')}${productFactSentence(g, p, 'price')}具体方案需要售前工程师到现场勘察后确定。`].join('\n');
  }
  return [`**Customer question:** ${who} from ${cname(g, c)} asks: "Our loads weigh about ${kg(weight)} each. Which robot fits?"`,
    `**Reply:** We recommend the ${p.nameEn} ("${p.nicknameEn}"). Its payload of ${kg(p.payloadKg)} covers ${kg(weight)}. ${productFactSentence(g, p, 'nav')} ${productFactSentence(g, p, 'price')} A pre-sales engineer will confirm the design after a site survey.`].join('\n');
}

function docFaultTicket(g: G): string {
  const zh = g.lang === 'zh';
  const p = pick(g.rng, PRODUCTS);
  const e = pick(g.rng, ERROR_CODES.filter((x) => x.code !== 'E301' || p.code === 'L300' || p.code === 'L1200'));
  const pl = pick(g.rng, SERVICE_PLANS);
  const day = randomDay(g.rng);
  const id = ticketId(g.rng, day.y);
  const c = cust(g);
  const agent = staff(g);
  const who = contact(g);
  const sn = serial(g.rng, p, day.y);
  const prio = chance(g.rng, 0.8) ? TICKET_PRIORITIES[1] : TICKET_PRIORITIES[2];
  if (zh) {
    return [
      `### 工单 ${id}`,
      `客户：${c.nameZh}（${c.cityZh}）｜联系人：${who}｜服务计划：${pl.nameZh}｜优先级：${prio.id}（${prio.zh}）`,
      `机器人：${p.code}，序列号 ${sn}｜日期：${fmtDay(g, day)}`,
      '',
      `**客户**：${pick(g.rng, ['你好，', '喂，您好，', '你好，麻烦看一下，'])}我们有一台 ${p.code} ${pick(g.rng, ['停下来不动了', '屏幕变红了', '一直在报警'])}，代码是 ${e.code}。`,
      `**客服（${agent}）**：您好，${e.code} 表示${e.zh}。${pick(g.rng, ['请您先确认机器人周围没有人员，', '为了安全，请先确认周围没有人，'])}然后${e.fixZh}。`,
      `**客户**：${pick(g.rng, ['好的，我试一下。', '明白，我去看看。'])}……${pick(g.rng, ['好了，恢复了。', '可以了，绿灯了。', '还是不行。'])}`,
      `**客服（${agent}）**：${pick(g.rng, ['好的，', '收到，'])}这张工单按${pl.nameZh}处理，响应时间为 ${pl.responseZh}，如需上门，工程师会在 ${pl.onsiteHours} 小时内到场。`,
    ].join('\n');
  }
  return [
    `### Ticket ${id}`,
    `Customer: ${c.nameEn} (${c.cityEn}) | Contact: ${who} | Plan: ${pl.nameEn} | Priority: ${prio.id} (${prio.en})`,
    `Robot: ${p.code}, serial ${sn} | Date: ${fmtDay(g, day)}`,
    '',
    `**Customer:** ${pick(g.rng, ['Hi,', 'Hello,', 'Good morning,'])} one of our ${p.code} robots ${pick(g.rng, ['has stopped', 'shows a red light', 'keeps alarming'])} with code ${e.code}.`,
    `**Agent (${agent}):** ${e.code} means ${e.en}. ${pick(g.rng, ['First make sure nobody is near the robot, then', 'For safety, check the area is clear, then'])} ${e.fixEn}.`,
    `**Customer:** ${pick(g.rng, ['OK, trying that now.', 'Right, give me a minute.'])} ... ${pick(g.rng, ['It is working again.', 'Green light, thanks.', 'Still no luck.'])}`,
    `**Agent (${agent}):** ${pick(g.rng, ['Noted.', 'Thanks.'])} This ticket follows ${plan(g, pl)}: response within ${pl.responseEn}, and an engineer on site within ${pl.onsiteHours} hours if needed.`,
  ].join('\n');
}

function docOrder(g: G): string {
  const zh = g.lang === 'zh';
  const day = randomDay(g.rng);
  const c = cust(g, true);
  const items = pickN(g.rng, PRODUCTS, 1 + g.rng.int(2)).map((p) => ({ p, qty: 1 + g.rng.int(20) }));
  const robots = items.reduce((s, x) => s + x.qty, 0);
  const chargers = Math.max(1, Math.ceil(robots / (SALES.robotsPerChargerMin + g.rng.int(SALES.robotsPerChargerMax - SALES.robotsPerChargerMin + 1))));
  const charger = PARTS.find((x) => x.id === 'charger')!;
  const gold = chance(g.rng, 0.4);
  const goldPlan = SERVICE_PLANS[1];
  const orderId = `SO-${day.y}${pad(day.m, 2)}-${pad(g.rng.int(10000), 4)}`;
  let total = 0;
  const lines: string[] = [];
  lines.push(zh ? `## 订单确认 ${orderId}` : `## Order confirmation ${orderId}`);
  lines.push(zh ? `客户：${c.nameZh}｜下单日期：${fmtDay(g, day)}｜客户经理：${staff(g, 'account')}` : `Customer: ${c.nameEn} | Order date: ${fmtDay(g, day)} | Account manager: ${staff(g, 'account')}`);
  lines.push('');
  for (const { p, qty } of items) {
    const sub = qty * p.priceCny;
    total += sub;
    lines.push(zh ? `- ${p.nameZh} × ${qty}，单价 ${cny(p.priceCny)}，小计 ${cny(sub)}` : `- ${p.nameEn} × ${qty}, unit price ${cny(p.priceCny)}, subtotal ${cny(sub)}`);
  }
  const chSub = chargers * charger.priceCny;
  total += chSub;
  lines.push(zh ? `- 充电桩 × ${chargers}，单价 ${cny(charger.priceCny)}，小计 ${cny(chSub)}` : `- charging station × ${chargers}, unit price ${cny(charger.priceCny)}, subtotal ${cny(chSub)}`);
  if (gold) {
    const gs = robots * goldPlan.priceCnyPerRobotYear;
    total += gs;
    lines.push(zh ? `- 金牌服务（首年）× ${robots} 台，每台每年 ${cny(goldPlan.priceCnyPerRobotYear)}，小计 ${cny(gs)}` : `- Gold plan (first year) × ${robots} robots, ${cny(goldPlan.priceCnyPerRobotYear)} per robot per year, subtotal ${cny(gs)}`);
  }
  lines.push(zh ? `- SpruceFleet 许可：首年随机器人附带；第二年起每台每年 ${cny(SOFTWARE.fleetLicenseCnyPerRobotYear)}` : `- SpruceFleet licence: first year included; from the second year ${cny(SOFTWARE.fleetLicenseCnyPerRobotYear)} per robot per year`);
  lines.push('');
  lines.push(zh ? `合计：${cny(total)}` : `Total: ${cny(total)}`);
  lines.push(zh
    ? `付款方式：签约后预付 ${SALES.depositRate * 100}%，发货前支付 ${SALES.beforeShipRate * 100}%，验收后支付 ${SALES.afterAcceptanceRate * 100}%。`
    : `Payment: ${SALES.depositRate * 100}% on signing, ${SALES.beforeShipRate * 100}% before shipment, ${SALES.afterAcceptanceRate * 100}% after acceptance.`);
  for (const { p } of items) {
    lines.push(zh ? `${p.code} 预计在签约后 ${SALES.leadWeeks[p.code]} 周内发货，保修 ${p.warrantyYears} 年。` : `The ${p.code} ships within ${SALES.leadWeeks[p.code]} weeks of signing and has a ${p.warrantyYears}-year warranty.`);
  }
  lines.push(zh ? `所有机器人出厂前都会在嘉兴工厂经过 ${SALES.burnInHours} 小时老化测试。` : `Every robot gets an ${SALES.burnInHours}-hour burn-in test at the Jiaxing plant before shipping.`);
  return lines.join('\n');
}

function docQuote(g: G): string {
  const zh = g.lang === 'zh';
  const p = pick(g.rng, PRODUCTS);
  const qty = 2 + g.rng.int(15);
  const ext = 1 + g.rng.int(WARRANTY.extendedMaxYears);
  const perYear = extendedWarrantyCny(p);
  const c = cust(g, true);
  const robotsSub = qty * p.priceCny;
  const extSub = qty * perYear * ext;
  const lines = zh ? [
    `## 报价单（有效期 ${SALES.quoteValidDays} 天）`,
    `致：${c.nameZh}`,
    `- ${p.nameZh} × ${qty}，单价 ${cny(p.priceCny)}，小计 ${cny(robotsSub)}`,
    `- 延长保修 ${ext} 年 × ${qty} 台，每台每年 ${cny(perYear)}（售价的 8%），小计 ${cny(extSub)}`,
    `合计：${cny(robotsSub + extSub)}`,
    `说明：${p.code} 标准保修 ${p.warrantyYears} 年，加上延保后共 ${p.warrantyYears + ext} 年。延保最多 ${WARRANTY.extendedMaxYears} 年，需在标准保修期结束前购买。`,
  ] : [
    `## Quotation (valid for ${SALES.quoteValidDays} days)`,
    `To: ${c.nameEn}`,
    `- ${p.nameEn} × ${qty}, unit price ${cny(p.priceCny)}, subtotal ${cny(robotsSub)}`,
    `- extended warranty, ${yearsEn(ext)} × ${qty} robots, ${cny(perYear)} per robot per year (8% of list price), subtotal ${cny(extSub)}`,
    `Total: ${cny(robotsSub + extSub)}`,
    `Note: the ${p.code} has a standard warranty of ${yearsEn(p.warrantyYears)}, so coverage totals ${yearsEn(p.warrantyYears + ext)}. Extensions go up to ${WARRANTY.extendedMaxYears} years and must be bought before the standard warranty ends.`,
  ];
  return lines.join('\n');
}

function docMaintenance(g: G): string {
  const zh = g.lang === 'zh';
  const p = pick(g.rng, PRODUCTS);
  const pl = pick(g.rng, SERVICE_PLANS);
  const c = cust(g, true);
  const day = randomDay(g.rng);
  const sn = serial(g.rng, p, day.y);
  const ageMonths = 1 + g.rng.int(Math.max(1, Math.min(40, (day.y - p.launchYear) * 12 + day.m - 1)));
  const cycles = Math.min(2400, Math.round(ageMonths * (30 + g.rng.int(40))));
  const batteryCovered = ageMonths < WARRANTY.batteryYears * 12 && cycles < WARRANTY.batteryCycles;
  const eng = staff(g);
  const part = pick(g.rng, PARTS.filter((x) => x.id !== 'charger'));
  const replace = chance(g.rng, 0.5);
  const lines: string[] = [];
  if (zh) {
    lines.push(`### 维护记录：${p.code} ${sn}`);
    lines.push(`日期：${fmtDay(g, day)}｜客户：${c.nameZh}｜工程师：${eng}｜服务计划：${pl.nameZh}（每年 ${pl.preventiveVisitsPerYear} 次预防性维护）`);
    lines.push(`- 防撞条：${pick(g.rng, ['完好', '有轻微划痕，可继续使用', '一处松动，已紧固'])}`);
    lines.push(`- 急停测试：${pick(g.rng, ['正常，按下后立即停止', '正常'])}`);
    lines.push(`- ${p.code === 'P20' ? '摄像头窗口' : '激光雷达窗口'}：${pick(g.rng, ['已擦拭', '有灰尘，已清洁'])}`);
    lines.push(`- 驱动轮：${pick(g.rng, ['无缠绕物', '发现缠绕膜，已清理', '胎面磨损接近标记线'])}`);
    lines.push(`- 电池：已使用 ${ageMonths} 个月，循环 ${num(cycles)} 次，${batteryCovered ? '仍在电池保修期内（2 年或 1,500 次循环，以先到者为准）' : '已超出电池保修（2 年或 1,500 次循环，以先到者为准）'}`);
    if (replace) {
      lines.push(`- 更换${part.nameZh} 1 个，${pl.sparePartsIncluded ? '金牌服务包含备件，不另收费' : `备件价格 ${cny(part.priceCny)}，按标准服务另行收费`}。`);
    }
    lines.push(`结论：${pick(g.rng, ['设备状态良好，可以继续运行。', '已恢复正常运行。', '建议下次维护时重点检查驱动轮。'])}`);
  } else {
    lines.push(`### Maintenance log: ${p.code} ${sn}`);
    lines.push(`Date: ${fmtDay(g, day)} | Customer: ${c.nameEn} | Engineer: ${eng} | Plan: ${pl.nameEn} (${pl.preventiveVisitsPerYear} preventive ${pl.preventiveVisitsPerYear === 1 ? 'visit' : 'visits'} a year)`);
    lines.push(`- Bumper strips: ${pick(g.rng, ['intact', 'light scratches, fine to use', 'one loose, refastened'])}`);
    lines.push(`- Emergency stop: ${pick(g.rng, ['OK, stops immediately', 'OK'])}`);
    lines.push(`- ${p.code === 'P20' ? 'Camera window' : 'Lidar window'}: ${pick(g.rng, ['wiped', 'dusty, cleaned'])}`);
    lines.push(`- Drive wheels: ${pick(g.rng, ['nothing wrapped', 'stretch film found and removed', 'tread close to the wear mark'])}`);
    lines.push(`- Battery: ${ageMonths} months in service, ${num(cycles)} cycles, ${batteryCovered ? 'still under the battery warranty (2 years or 1,500 cycles, whichever comes first)' : 'past the battery warranty (2 years or 1,500 cycles, whichever comes first)'}`);
    if (replace) {
      lines.push(`- Replaced one ${part.nameEn}; ${pl.sparePartsIncluded ? 'parts are included in the Gold plan, no charge' : `part price ${cny(part.priceCny)}, charged separately on the Standard plan`}.`);
    }
    lines.push(`Result: ${pick(g.rng, ['robot in good condition, back in service.', 'running normally again.', 'check the drive wheels closely at the next visit.'])}`);
  }
  return lines.join('\n');
}

function docMeeting(g: G): string {
  const zh = g.lang === 'zh';
  const d = pick(g.rng, DEPARTMENTS);
  const head = person(d.head);
  const day = randomDay(g.rng);
  const topics: (() => string)[] = [
    () => { const p = pick(g.rng, PRODUCTS); return zh ? `${p.code} 的现场反馈：${productFactSentence(g, p, pick(g.rng, PRODUCT_ATTRS))}客户希望进一步了解部署周期。` : `Field feedback on the ${p.code}: ${productFactSentence(g, p, pick(g.rng, PRODUCT_ATTRS))} The customer wants more detail on deployment time.`; },
    () => zh ? `年假提醒：未休完的年假最多结转 ${HR.carryOverMaxDays} 天，须在${HR.carryOverDeadlineZh}前休完。` : `Leave reminder: at most ${HR.carryOverMaxDays} unused days carry over, to be used by ${HR.carryOverDeadlineEn}.`,
    () => zh ? `安全：共享区域限速 ${ROBOT_COMMON.sharedZoneSpeedMs} m/s，所有险情须在 24 小时内报告质量与安全部。` : `Safety: the shared-zone limit is ${ROBOT_COMMON.sharedZoneSpeedMs} m/s, and every near miss goes to Quality and Safety within 24 hours.`,
    () => zh ? `信息安全：密码至少 ${IT.passwordMinLength} 位，每 ${IT.passwordChangeDays} 天更换，安全事件须在 ${IT.incidentReportHours} 小时内报告。` : `Security: passwords need at least ${IT.passwordMinLength} characters and change every ${IT.passwordChangeDays} days; incidents are reported within ${IT.incidentReportHours} hour.`,
    () => { const r = pick(g.rng, RELEASES); return zh ? `${r.product} ${r.version}（${r.date}）的要点：${r.zh.join('；')}。` : `${r.product} ${r.version} (${r.date}) highlights: ${r.en.join('; ')}.`; },
    () => { const pl = SERVICE_PLANS[1]; return zh ? `续约：向客户介绍金牌服务，每台每年 ${cny(pl.priceCnyPerRobotYear)}，${pl.responseZh}响应，${pl.onsiteHours} 小时到场。` : `Renewals: pitch the Gold plan at ${cny(pl.priceCnyPerRobotYear)} per robot per year, ${pl.responseEn} response, on site within ${pl.onsiteHours} hours.`; },
    () => zh ? `报销：费用发生后 ${EXPENSES.submitWithinDays} 天内提交，${cny(EXPENSES.managerLimitCny)} 以下由直属经理审批。` : `Expenses: claim within ${EXPENSES.submitWithinDays} days; claims under ${cny(EXPENSES.managerLimitCny)} go to your direct manager.`,
    () => zh ? `新员工：入职 ${HR.safetyTrainingWithinDays} 天内完成 ${HR.safetyTrainingHours} 小时安全培训，${HR.securityTrainingWithinDays} 天内完成信息安全培训。` : `New joiners: ${HR.safetyTrainingHours}-hour safety training within ${HR.safetyTrainingWithinDays} days, security training within ${HR.securityTrainingWithinDays} days.`,
  ];
  const chosen = pickN(g.rng, topics, 2 + g.rng.int(2));
  const owner = emp(g);
  const lines = zh ? [
    `## ${d.nameZh}${pick(g.rng, ['周会', '月度会议', '例会'])}纪要`,
    `时间：${fmtDay(g, day)}｜主持：${head.nameZh}（${head.titleZh}）｜记录：${owner}`,
    '',
    ...chosen.map((t, i) => `${i + 1}. ${t()}`),
    '',
    `行动项：${owner}负责跟进，${pick(g.rng, ['下周五前', '本月底前', '两周内'])}反馈。`,
  ] : [
    `## ${d.nameEn} ${pick(g.rng, ['weekly meeting', 'monthly review', 'team meeting'])} — minutes`,
    `Date: ${fmtDay(g, day)} | Chair: ${head.nameEn} (${head.titleEn}) | Notes: ${owner}`,
    '',
    ...chosen.map((t, i) => `${i + 1}. ${t()}`),
    '',
    `Action: ${owner} follows up ${pick(g.rng, ['by next Friday', 'by the end of the month', 'within two weeks'])}.`,
  ];
  return lines.join('\n');
}

/** A bank of FAQ pairs; each call draws a few. */
function faqPairs(g: G): [string, string][] {
  const zh = g.lang === 'zh';
  const gold = SERVICE_PLANS[1];
  const std = SERVICE_PLANS[0];
  const p = pick(g.rng, PRODUCTS);
  const e = pick(g.rng, ERROR_CODES);
  const part = pick(g.rng, PARTS);
  const years = g.rng.int(MAX_SERVICE_YEARS + 1);
  const office = pick(g.rng, OFFICES);
  const d = pick(g.rng, DEPARTMENTS);
  const head = person(d.head);
  if (zh) {
    return [
      [`${p.code} 能搬多重？`, `额定载重 ${kg(p.payloadKg)}。`],
      [`${p.code} 多少钱？`, `${p.code} 的售价为 ${cny(p.priceCny)}。`],
      [`${p.code} 保修几年？`, `${p.warrantyYears} 年。`],
      [`${p.code} 充电要多久？`, `约 ${p.chargeH} 小时。`],
      [`${p.code} 用什么导航？`, `${p.navZh}。`],
      [`客服热线是多少？`, `${COMPANY.hotline}。`],
      [`金牌服务多少钱？`, `每台每年 ${cny(gold.priceCnyPerRobotYear)}。`],
      [`标准服务多久响应？`, `${std.responseZh}内响应，${std.onsiteHours} 小时内到场。`],
      [`金牌服务多久响应？`, `${gold.responseZh}内响应，${gold.onsiteHours} 小时内到场。`],
      [`${e.code} 是什么意思？`, `${e.zh}，请${e.fixZh}。`],
      [`${part.nameZh}多少钱？`, `${cny(part.priceCny)}。`],
      [`没用过的机器人能退吗？`, `交付后 ${WARRANTY.returnDays} 天内、未部署且包装完好可以退，收取 ${WARRANTY.restockingFeeRate * 100}% 重新上架费。`],
      [`电池保修多久？`, `${WARRANTY.batteryYears} 年或 ${num(WARRANTY.batteryCycles)} 次循环，以先到者为准。`],
      [`入职满 ${years} 年有几天年假？`, `${annualLeaveDays(years)} 天。`],
      [`病假有几天？`, `每年 ${HR.sickLeaveDays} 天全薪病假，连续超过 ${HR.sickCertificateAfterDays} 天需要医院证明。`],
      [`${office.nameZh}是哪年设立的？`, `${office.opened} 年，负责${office.roleZh}。`],
      [`${d.nameZh}的负责人是谁？`, `${head.nameZh}，${head.titleZh}。`],
      [`密码有什么要求？`, `至少 ${IT.passwordMinLength} 位，每 ${IT.passwordChangeDays} 天更换。`],
      [`几号发工资？`, `每月 ${HR.payday} 日。`],
    ];
  }
  return [
    [`How much can the ${p.code} carry?`, `Up to ${kg(p.payloadKg)}.`],
    [`What does the ${p.code} cost?`, `The ${p.code} list price is ${cny(p.priceCny)}, or ${usd(p.priceUsd)} outside China.`],
    [`How long is the ${p.code} warranty?`, `${cap(yearsEn(p.warrantyYears))}.`],
    [`How long does the ${p.code} take to charge?`, `About ${hoursEn(p.chargeH)}.`],
    [`How does the ${p.code} navigate?`, `It uses ${p.navEn}.`],
    ['What is the support hotline?', `${COMPANY.hotline}.`],
    ['How much is the Gold plan?', `${cny(gold.priceCnyPerRobotYear)} per robot per year.`],
    ['How fast is the Standard plan response?', `Within ${std.responseEn}, with an engineer on site within ${std.onsiteHours} hours.`],
    ['How fast is the Gold plan response?', `Within ${gold.responseEn}, with an engineer on site within ${gold.onsiteHours} hours.`],
    [`What does ${e.code} mean?`, `${cap(e.en)}: ${e.fixEn}.`],
    [`How much is a ${part.nameEn}?`, `${cny(part.priceCny)}.`],
    ['Can I return an unused robot?', `Yes, within ${WARRANTY.returnDays} days of delivery if undeployed and in its original packaging, minus a ${WARRANTY.restockingFeeRate * 100}% restocking fee.`],
    ['How long is the battery warranty?', `${WARRANTY.batteryYears} years or ${num(WARRANTY.batteryCycles)} cycles, whichever comes first.`],
    [`How much annual leave after ${years} full ${years === 1 ? 'year' : 'years'} of service?`, `${annualLeaveDays(years)} days.`],
    ['How much sick leave do we get?', `${HR.sickLeaveDays} paid days a year; a doctor's note is needed after ${HR.sickCertificateAfterDays} consecutive days.`],
    [`When did the ${office.nameEn} open?`, `In ${office.opened}. It handles ${office.roleEn}.`],
    [`Who heads ${d.nameEn}?`, `${head.nameEn}, ${head.titleEn}.`],
    ['What are the password rules?', `At least ${IT.passwordMinLength} characters, changed every ${IT.passwordChangeDays} days.`],
    ['When is payday?', `The ${HR.payday}th of every month.`],
  ];
}

function docFaq(g: G): string {
  const pairs = pickN(g.rng, faqPairs(g), 3 + g.rng.int(4));
  const zh = g.lang === 'zh';
  const title = zh ? pick(g.rng, ['## 常见问题', '## 客户问答', '## 快速问答']) : pick(g.rng, ['## FAQ', '## Quick answers', '## Questions and answers']);
  const style = g.rng.int(2);
  const [qTag, aTag, sep] = zh ? ['问', '答', '：'] : ['Q', 'A', ': '];
  const body = pairs.map(([q, a]) => (style === 0 ? `**${qTag}${sep}${q}**\n${aTag}${sep}${a}` : `${qTag}${sep}${q}\n${aTag}${sep}${a}`));
  return [title, '', body.join('\n\n')].join('\n');
}

function docLeave(g: G): string {
  const zh = g.lang === 'zh';
  const name = emp(g);
  const years = g.rng.int(MAX_SERVICE_YEARS + 1);
  const entitled = annualLeaveDays(years);
  const days = 1 + g.rng.int(8);
  const start = randomDay(g.rng);
  const noticeOk = chance(g.rng, 0.8);
  const needsHead = days > HR.deptHeadApprovalOverDays;
  const d = pick(g.rng, DEPARTMENTS);
  if (zh) {
    return [
      `### 年假申请`,
      `申请人：${name}（${d.nameZh}）｜工龄：满 ${years} 年｜年假额度：${entitled} 天`,
      `休假日期：${fmtDay(g, start)}起，共 ${days} 天`,
      `审批：${needsHead ? `连续超过 ${HR.deptHeadApprovalOverDays} 天，需直属经理和部门负责人审批。` : '直属经理审批。'}`,
      noticeOk ? `备注：已提前 ${HR.leaveNoticeWorkingDays} 个工作日以上提交，符合规定。` : `备注：提交时间不足 ${HR.leaveNoticeWorkingDays} 个工作日，请与直属经理沟通后再提交。`,
      `说明：入职第一年 ${HR.annualLeaveFirstYear} 天，每满一年加 1 天，最多 ${HR.annualLeaveMax} 天。`,
    ].join('\n');
  }
  return [
    '### Annual leave request',
    `Employee: ${name} (${d.nameEn}) | Service: ${years} full ${years === 1 ? 'year' : 'years'} | Entitlement: ${entitled} days`,
    `Leave: ${days} ${days === 1 ? 'day' : 'days'} from ${fmtDay(g, start)}`,
    `Approval: ${needsHead ? `more than ${HR.deptHeadApprovalOverDays} consecutive days, so both the direct manager and the department head approve.` : 'the direct manager approves.'}`,
    noticeOk ? `Note: submitted at least ${HR.leaveNoticeWorkingDays} working days ahead, as required.` : `Note: submitted less than ${HR.leaveNoticeWorkingDays} working days ahead; please talk to your manager first.`,
    `Rule: ${HR.annualLeaveFirstYear} days in the first year, one more per full year of service, up to ${HR.annualLeaveMax}.`,
  ].join('\n');
}

function docExpense(g: G): string {
  const zh = g.lang === 'zh';
  const name = emp(g);
  const city = pick(g.rng, TRAVEL_CITIES);
  const nights = 1 + g.rng.int(5);
  const capN = hotelCapCny(city.zh);
  const rate = capN - 150 + g.rng.int(301); // some nights cost more than the cap
  const hotel = Math.min(rate, capN) * nights;
  const meals = (nights + 1) * EXPENSES.mealDomesticCny;
  const ticket = 300 + g.rng.int(24) * 50;
  const total = hotel + meals + ticket;
  const who = APPROVER_NAMES[expenseApprover(total)];
  if (zh) {
    return [
      `### 差旅报销单`,
      `报销人：${name}｜目的地：${city.zh}｜行程：${nights + 1} 天 ${nights} 晚`,
      `- 住宿：实际每晚 ${cny(rate)}，${city.zh}的上限为每晚 ${cny(capN)}，可报销 ${cny(hotel)}${rate > capN ? '（超出部分个人承担）' : ''}`,
      `- 餐费补助：${nights + 1} 天 × ${cny(EXPENSES.mealDomesticCny)} = ${cny(meals)}`,
      `- 交通：高铁二等座往返 ${cny(ticket)}`,
      `合计：${cny(total)}，审批人：${who.zh}。`,
      `请在费用发生后 ${EXPENSES.submitWithinDays} 天内提交，审批通过后 ${EXPENSES.reimburseWorkingDays} 个工作日内到账。`,
    ].join('\n');
  }
  return [
    '### Travel expense claim',
    `Employee: ${name} | Destination: ${city.en} | Trip: ${nights + 1} days, ${nights} ${nights === 1 ? 'night' : 'nights'}`,
    `- Hotel: ${cny(rate)} a night actually paid; the cap for ${city.en} is ${cny(capN)} a night, so ${cny(hotel)} is reimbursed${rate > capN ? ' (the rest is paid by the employee)' : ''}`,
    `- Meal allowance: ${nights + 1} days × ${cny(EXPENSES.mealDomesticCny)} = ${cny(meals)}`,
    `- Travel: high-speed train, second class, return ${cny(ticket)}`,
    `Total: ${cny(total)}; approver: ${who.en}.`,
    `Claim within ${EXPENSES.submitWithinDays} days; payment follows within ${EXPENSES.reimburseWorkingDays} working days of approval.`,
  ].join('\n');
}

function docIt(g: G): string {
  const zh = g.lang === 'zh';
  const name = emp(g);
  const day = randomDay(g.rng);
  const issues: [string, string][] = zh ? [
    ['忘记密码，无法登录邮箱', `已指导通过“忘记密码”和多因素认证自助重置。提醒：新密码至少 ${IT.passwordMinLength} 位，每 ${IT.passwordChangeDays} 天更换。`],
    ['笔记本电脑在出差途中丢失', `已在报告后立即远程锁定设备并重置账号。丢失设备须在 ${IT.incidentReportHours} 小时内报告，本次报告及时。电脑已开启全盘加密。`],
    ['需要用 U 盘把资料带到客户现场', '个人 U 盘不得用于公司数据。已审批并发放公司加密 U 盘一个。'],
    ['在酒店无法访问内部系统', '已指导先连接公司 VPN，再访问内部系统。'],
    ['想安装一款绘图软件', `请从${IT.softwareCenterZh}安装；${IT.softwareCenterZh}没有的软件，需提交申请，由信息技术部评估。`],
    ['收到自称财务总监的邮件，要求紧急付款', '这是钓鱼邮件。已指导使用“报告钓鱼”按钮上报，未回复、未打开附件。'],
    ['访客想连无线网络', `访客请使用 ${IT.guestWifi}，公司设备使用 ${IT.corpWifi}。`],
    ['电脑用了五年，越来越慢', `笔记本电脑每 ${IT.laptopRefreshYears} 年更换一次，已安排更换。`],
  ] : [
    ['forgot password, locked out of email', `Guided through "Forgot password" with MFA. Reminder: passwords need at least ${IT.passwordMinLength} characters and change every ${IT.passwordChangeDays} days.`],
    ['laptop lost while travelling', `Device locked remotely and accounts reset right after the report. Lost devices must be reported within ${IT.incidentReportHours} hour; this report was on time. The laptop has full-disk encryption.`],
    ['needs a USB drive to take files to a customer site', 'Personal USB drives may not hold company data. Approved and issued an encrypted company drive.'],
    ['cannot reach internal systems from a hotel', 'Connect to the company VPN first, then open internal systems.'],
    ['wants to install a drawing tool', `Install it from the ${IT.softwareCenterEn}; anything not there needs a request and an IT review.`],
    ['email from a "CFO" asking for an urgent payment', 'Phishing. Reported with the Report Phish button; no reply, no attachments opened.'],
    ['a visitor wants Wi-Fi', `Visitors use ${IT.guestWifi}; company devices use ${IT.corpWifi}.`],
    ['five-year-old laptop is slow', `Laptops are replaced every ${IT.laptopRefreshYears} years; a replacement is scheduled.`],
  ];
  const [q, a] = pick(g.rng, issues);
  return zh
    ? [`### IT 服务台工单`, `提交人：${name}｜日期：${fmtDay(g, day)}｜分机 ${IT.helpdeskExt}`, `问题：${q}`, `处理：${a}`].join('\n')
    : ['### IT helpdesk ticket', `From: ${name} | Date: ${fmtDay(g, day)} | ext. ${IT.helpdeskExt}`, `Issue: ${q}`, `Resolution: ${a}`].join('\n');
}

function docRma(g: G): string {
  const zh = g.lang === 'zh';
  const p = pick(g.rng, PRODUCTS);
  const c = cust(g, true);
  const qty = 1 + g.rng.int(3);
  const daysSince = 1 + g.rng.int(45);
  const deployed = chance(g.rng, 0.4);
  const faulty = chance(g.rng, 0.35);
  const rma = `RMA-${2023 + g.rng.int(3)}-${pad(g.rng.int(10000), 4)}`;
  const fee = Math.round(p.priceCny * WARRANTY.restockingFeeRate);
  let outcome: string;
  if (faulty && daysSince <= WARRANTY.doaDays) {
    outcome = zh ? `交付后第 ${daysSince} 天出现无法现场修复的严重故障，在 ${WARRANTY.doaDays} 天内，按到货即损处理，免费更换全新的 ${p.code}。`
      : `A serious fault that could not be fixed on site appeared on day ${daysSince} after delivery, within ${WARRANTY.doaDays} days, so it is dead on arrival: we replace it with a new ${p.code}.`;
  } else if (faulty) {
    outcome = zh ? `交付已 ${daysSince} 天，超过到货即损的 ${WARRANTY.doaDays} 天，按保修处理（${p.code} 保修 ${p.warrantyYears} 年），返厂维修周期 ${WARRANTY.depotRepairWorkingDays} 个工作日。`
      : `Delivered ${daysSince} days ago, past the ${WARRANTY.doaDays}-day DOA window, so it is handled under warranty (${yearsEn(p.warrantyYears)} for the ${p.code}); depot repair takes ${WARRANTY.depotRepairWorkingDays} working days.`;
  } else if (!deployed && daysSince <= WARRANTY.returnDays) {
    outcome = zh ? `交付后第 ${daysSince} 天申请退货，未部署且包装完好，可以退货。每台重新上架费 ${cny(fee)}（售价 ${cny(p.priceCny)} 的 5%），共退款 ${cny((p.priceCny - fee) * qty)}，检验合格后 ${WARRANTY.refundDays} 天内到账。`
      : `Return requested on day ${daysSince}, undeployed and in original packaging, so it is accepted. Restocking fee ${cny(fee)} per robot (5% of the ${cny(p.priceCny)} list price); refund ${cny((p.priceCny - fee) * qty)} within ${WARRANTY.refundDays} days of inspection.`;
  } else if (deployed) {
    outcome = zh ? `机器人已经部署上线，不适用无理由退货，但仍享受 ${p.warrantyYears} 年保修。` : `The robots are already deployed, so they cannot be returned, but they keep their ${p.warrantyYears}-year warranty.`;
  } else {
    outcome = zh ? `交付已 ${daysSince} 天，超过 ${WARRANTY.returnDays} 天的退货期限，无法退货。` : `Delivered ${daysSince} days ago, past the ${WARRANTY.returnDays}-day return window, so a return is not possible.`;
  }
  return zh
    ? [`### 退换货申请 ${rma}`, `客户：${c.nameZh}｜产品：${p.nameZh} × ${qty}｜交付后天数：${daysSince}｜${deployed ? '已部署' : '未部署'}｜${faulty ? '报告故障' : '无故障'}`, `处理结果：${outcome}`].join('\n')
    : [`### Return request ${rma}`, `Customer: ${c.nameEn} | Product: ${p.nameEn} × ${qty} | Days since delivery: ${daysSince} | ${deployed ? 'deployed' : 'not deployed'} | ${faulty ? 'fault reported' : 'no fault'}`, `Outcome: ${outcome}`].join('\n');
}

function docNearMiss(g: G): string {
  const zh = g.lang === 'zh';
  const p = pick(g.rng, PRODUCTS);
  const day = randomDay(g.rng);
  const c = cust(g);
  const where = chance(g.rng, 0.5) ? (zh ? '嘉兴工厂' : 'Jiaxing plant') : cname(g, c);
  const events: [string, string][] = zh ? [
    ['一名员工在拐角处与机器人相遇，机器人在 0.5 米内停车。', '拐角加装凸面镜，开启拐角提前减速。'],
    ['充电桩旁堆放了纸箱。', '已清理，充电桩周围 1 米划线标识。'],
    ['一名员工边走边看手机进入作业区。', '班组长现场提醒，纳入安全培训案例。'],
    ['有人站在被顶起的货架旁伸手取货。', '立即按下急停，重新培训“不站在顶起的货架下”的规定。'],
    ['地面有油渍，机器人定位出现偏差。', '清理地面，检查二维码标签。'],
  ] : [
    ['A worker met a robot at a blind corner; the robot stopped within 0.5 m.', 'Convex mirror fitted; corner slow-down enabled.'],
    ['Cardboard piled next to a charging station.', 'Cleared; 1 m line painted around the charger.'],
    ['A worker walked into the robot area looking at a phone.', 'Shift lead spoke to the team; added to the safety training cases.'],
    ['Someone reached in beside a lifted shelf.', 'Emergency stop pressed at once; retrained on never standing under a lifted shelf.'],
    ['Oil on the floor made a robot lose its position.', 'Floor cleaned; QR labels checked.'],
  ];
  const [what, fix] = pick(g.rng, events);
  return zh
    ? [`### 险情报告`, `日期：${fmtDay(g, day)}｜地点：${where}｜机器人：${p.code} ${serial(g.rng, p, day.y)}｜报告人：${emp(g)}`, `经过：${what}`, `整改：${fix}`, `本报告在 24 小时内提交给质量与安全部（负责人：${person('zheng').nameZh}）。`].join('\n')
    : ['### Near-miss report', `Date: ${fmtDay(g, day)} | Site: ${where} | Robot: ${p.code} ${serial(g.rng, p, day.y)} | Reported by: ${emp(g)}`, `What happened: ${what}`, `Action: ${fix}`, `Filed with Quality and Safety (head: ${person('zheng').nameEn}) within 24 hours.`].join('\n');
}

function docShipment(g: G): string {
  const zh = g.lang === 'zh';
  const p = pick(g.rng, PRODUCTS);
  const qty = 1 + g.rng.int(12);
  const c = cust(g);
  const ship = randomDay(g.rng);
  const abroad = c.cityEn === 'Singapore' || c.cityEn === 'Rotterdam';
  const sea = c.cityEn === 'Singapore' ? SALES.seaWeeksSingapore : SALES.seaWeeksRotterdam;
  const eta = addDays(ship, abroad ? sea * 7 : 2 + g.rng.int(3));
  return zh
    ? [`### 发货通知`, `${c.nameZh}：您订购的 ${qty} 台 ${p.nameZh} 已于 ${fmtDay(g, ship)}从嘉兴工厂发出，出厂前均已完成 ${SALES.burnInHours} 小时老化测试。`,
      abroad ? `海运到${c.cityZh}约需 ${sea} 周，预计 ${fmtDay(g, eta)}到达。` : `预计 ${fmtDay(g, eta)}送达${c.cityZh}。`,
      `保修期从交付验收之日起计算，${p.code} 保修 ${p.warrantyYears} 年。到货后 ${WARRANTY.doaDays} 天内如出现无法现场修复的严重故障，我们免费换新。`].join('\n')
    : ['### Shipping notice', `${c.nameEn}: your ${qty} × ${p.nameEn} left the Jiaxing plant on ${fmtDay(g, ship)}, each after an ${SALES.burnInHours}-hour burn-in test.`,
      abroad ? `Sea freight to ${c.cityEn} takes about ${sea} ${sea === 1 ? 'week' : 'weeks'}; expected arrival ${fmtDay(g, eta)}.` : `Expected delivery to ${c.cityEn}: ${fmtDay(g, eta)}.`,
      `The warranty starts at delivery and acceptance: ${yearsEn(p.warrantyYears)} for the ${p.code}. If a serious fault that cannot be fixed on site appears within ${WARRANTY.doaDays} days, we replace the robot.`].join('\n');
}

function docRelease(g: G): string {
  const r = pick(g.rng, RELEASES);
  const [y, m] = r.date.split('-').map(Number);
  const items = g.lang === 'zh' ? r.zh : r.en;
  return g.lang === 'zh'
    ? [`### ${r.product} ${r.version}（${y} 年 ${m} 月）`, ...items.map((x) => `- ${x}`)].join('\n')
    : [`### ${r.product} ${r.version} (${MONTHS_EN[m - 1]} ${y})`, ...items.map((x) => `- ${cap(x)}`)].join('\n');
}

function docCompany(g: G): string {
  const zh = g.lang === 'zh';
  const sentences: (() => string)[] = zh ? [
    () => `${COMPANY.legalNameZh}成立于 ${COMPANY.foundedYear} 年 ${COMPANY.foundedMonth} 月，总部位于${COMPANY.hqZh}。`,
    () => `公司目前约有 ${COMPANY.employees} 名员工，客户超过 ${COMPANY.customers} 家，分布在 ${COMPANY.countries} 个国家和地区。`,
    () => `截至 2024 年底，云杉智造累计交付机器人超过 ${num(COMPANY.robotsShipped)} 台。`,
    () => `公司的口号是“${COMPANY.sloganZh}”。`,
    () => { const o = pick(g.rng, OFFICES); return `${o.nameZh}于 ${o.opened} 年设立，负责${o.roleZh}。`; },
    () => { const x = pick(g.rng, PEOPLE); return `${x.nameZh}是${x.titleZh}。`; },
    () => { const d = pick(g.rng, DEPARTMENTS); return `${d.nameZh}的负责人是${person(d.head).nameZh}。`; },
    () => { const p = pick(g.rng, PRODUCTS); return `${p.code} 的昵称是“${p.nicknameZh}”，于 ${p.launchYear} 年发布。`; },
    () => `客服热线 ${COMPANY.hotline}，客服邮箱 ${COMPANY.supportEmail}。`,
    () => `IT 服务台分机 ${IT.helpdeskExt}，服务时间为工作日 ${IT.helpdeskHours}。`,
  ] : [
    () => `${COMPANY.legalNameEn} was founded in ${MONTHS_EN[COMPANY.foundedMonth - 1]} ${COMPANY.foundedYear} and is headquartered at ${COMPANY.hqEn}.`,
    () => `About ${COMPANY.employees} people work at Spruce Robotics, serving more than ${COMPANY.customers} customers in ${COMPANY.countries} countries.`,
    () => `By the end of 2024 Spruce Robotics had shipped over ${num(COMPANY.robotsShipped)} robots.`,
    () => `The company slogan is "${COMPANY.sloganEn}"`,
    () => { const o = pick(g.rng, OFFICES); return `The ${o.nameEn} opened in ${o.opened} and handles ${o.roleEn}.`; },
    () => { const x = pick(g.rng, PEOPLE); return `${x.nameEn} is the ${x.titleEn}.`; },
    () => { const d = pick(g.rng, DEPARTMENTS); return `${d.nameEn} is headed by ${person(d.head).nameEn}.`; },
    () => { const p = pick(g.rng, PRODUCTS); return `The ${p.code}, nicknamed the ${p.nicknameEn}, was launched in ${p.launchYear}.`; },
    () => `The support hotline is ${COMPANY.hotline} and the support email is ${COMPANY.supportEmail}.`,
    () => `The IT helpdesk is on extension ${IT.helpdeskExt}, weekdays ${IT.helpdeskHours}.`,
  ];
  const chosen = pickN(g.rng, sentences, 3 + g.rng.int(3)).map((f) => f());
  return [zh ? pick(g.rng, ['### 公司速览', '### 关于云杉智造', '### 你知道吗？']) : pick(g.rng, ['### Company facts', '### About Spruce Robotics', '### Did you know?']), '', chosen.join(zh ? '' : ' ')].join('\n');
}

function docOnboarding(g: G): string {
  const zh = g.lang === 'zh';
  const name = emp(g);
  const d = pick(g.rng, DEPARTMENTS);
  const buddy = emp(g);
  const start = randomDay(g.rng);
  return zh
    ? [`### 入职安排：${name}（${d.nameZh}）`, `- 入职日期：${fmtDay(g, start)}，上午 ${HR.firstDayArrival} 到总部 A 座一楼前台报到`, `- 入职伙伴：${buddy}`,
      `- 新员工培训：${HR.orientationDayZh}上午`, `- ${HR.safetyTrainingHours} 小时安全培训：入职 ${HR.safetyTrainingWithinDays} 天内完成`,
      `- 信息安全培训：入职 ${HR.securityTrainingWithinDays} 天内完成`, `- 试用期：${HR.probationMonths} 个月，期末进行转正面谈`,
      `- 第一天领取笔记本电脑，设置至少 ${IT.passwordMinLength} 位的密码并绑定多因素认证`].join('\n')
    : [`### Onboarding plan: ${name} (${d.nameEn})`, `- Start date: ${fmtDay(g, start)}, ${HR.firstDayArrival} at the Building A reception, headquarters`, `- Buddy: ${buddy}`,
      `- Orientation: ${HR.orientationDayEn} morning`, `- ${HR.safetyTrainingHours}-hour safety training: within ${HR.safetyTrainingWithinDays} days`,
      `- Security training: within ${HR.securityTrainingWithinDays} days`, `- Probation: ${HR.probationMonths} months, ending with a review`,
      `- Laptop on day one; set a password of at least ${IT.passwordMinLength} characters and enrol in MFA`].join('\n');
}

function docPolicyNote(g: G): string {
  const zh = g.lang === 'zh';
  const notes: string[] = zh ? [
    `工作时间：标准 ${HR.workStart}–${HR.workEnd}，午休 ${HR.lunch}，可在 ${HR.flexStartEarliest} 到 ${HR.flexStartLatest} 之间开始工作，核心时间 ${HR.coreHours}。`,
    `嘉兴工厂两班制：早班 ${HR.plantShiftEarly}，晚班 ${HR.plantShiftLate}。`,
    `转正后经直属经理同意，每周最多远程办公 ${HR.remoteDaysPerWeek} 天。`,
    `婚假 ${HR.marriageLeaveDays} 天，产假 ${HR.maternityLeaveDays} 天，陪产假 ${HR.paternityLeaveDays} 天，丧假 ${HR.bereavementLeaveDays} 天。`,
    `住宿上限：北京、上海、广州、深圳每晚 ${cny(EXPENSES.hotelTier1Cny)}，其他国内城市每晚 ${cny(EXPENSES.hotelOtherCny)}，海外每晚 ${usd(EXPENSES.hotelIntlUsd)}。`,
    `餐费补助：国内每天 ${cny(EXPENSES.mealDomesticCny)}，海外每天 ${usd(EXPENSES.mealIntlUsd)}。`,
    `报销审批：${cny(EXPENSES.managerLimitCny)} 以下由直属经理审批，${cny(EXPENSES.managerLimitCny)} 到 ${cny(EXPENSES.deptHeadLimitCny)} 由部门负责人审批，超过 ${cny(EXPENSES.deptHeadLimitCny)} 由首席财务官审批。`,
    `学习预算每人每年 ${cny(HR.trainingBudgetCny)}，内推奖金 ${cny(HR.referralBonusCny)}。`,
    `工作到 ${HR.freeDinnerAfter} 以后可以免费用晚餐，${EXPENSES.lateTaxiAfter} 以后下班打车可以报销。`,
    `电脑闲置 ${IT.screenLockMinutes} 分钟后自动锁屏，笔记本电脑每 ${IT.laptopRefreshYears} 年更换。`,
    `数据分为${IT.dataClassesZh.join('、')}四级，客户数据最多保存 ${IT.customerDataRetentionYears} 年。`,
    `在共享区域，所有机器人限速 ${ROBOT_COMMON.sharedZoneSpeedMs} m/s，${ROBOT_COMMON.slowDownDistanceM} 米内减速，${ROBOT_COMMON.stopDistanceM} 米内停车。`,
    `充电桩周围 ${ROBOT_COMMON.chargerClearanceM} 米内不得堆放物品，充电区严禁吸烟。`,
  ] : [
    `Working hours: standard ${HR.workStart}–${HR.workEnd} with lunch ${HR.lunch}; start any time from ${HR.flexStartEarliest} to ${HR.flexStartLatest}; core hours ${HR.coreHours}.`,
    `The Jiaxing plant runs two shifts: ${HR.plantShiftEarly} and ${HR.plantShiftLate}.`,
    `After probation, with manager approval, you may work remotely up to ${HR.remoteDaysPerWeek} days a week.`,
    `Marriage leave is ${HR.marriageLeaveDays} days, maternity leave ${HR.maternityLeaveDays} days, paternity leave ${HR.paternityLeaveDays} days, bereavement leave ${HR.bereavementLeaveDays} days.`,
    `Hotel caps: ${cny(EXPENSES.hotelTier1Cny)} a night in Beijing, Shanghai, Guangzhou and Shenzhen, ${cny(EXPENSES.hotelOtherCny)} in other Chinese cities, ${usd(EXPENSES.hotelIntlUsd)} abroad.`,
    `Meal allowance: ${cny(EXPENSES.mealDomesticCny)} a day in China, ${usd(EXPENSES.mealIntlUsd)} a day abroad.`,
    `Approvals: under ${cny(EXPENSES.managerLimitCny)} your direct manager, ${cny(EXPENSES.managerLimitCny)} to ${cny(EXPENSES.deptHeadLimitCny)} your department head, over ${cny(EXPENSES.deptHeadLimitCny)} the CFO.`,
    `Learning budget: ${cny(HR.trainingBudgetCny)} per person per year. Referral bonus: ${cny(HR.referralBonusCny)}.`,
    `Dinner is free after ${HR.freeDinnerAfter}; a taxi home after ${EXPENSES.lateTaxiAfter} can be claimed.`,
    `Laptops lock after ${IT.screenLockMinutes} idle minutes and are replaced every ${IT.laptopRefreshYears} years.`,
    `Data has four levels: ${IT.dataClassesEn.join(', ')}. Customer data is kept for at most ${IT.customerDataRetentionYears} years.`,
    `In shared zones every robot is limited to ${ROBOT_COMMON.sharedZoneSpeedMs} m/s, slows within ${ROBOT_COMMON.slowDownDistanceM} m and stops within ${ROBOT_COMMON.stopDistanceM} m.`,
    `Keep ${ROBOT_COMMON.chargerClearanceM} m clear around chargers; no smoking in charging areas.`,
  ];
  const chosen = pickN(g.rng, notes, 2 + g.rng.int(3));
  return [zh ? pick(g.rng, ['### 制度提示', '### 员工须知', '### 温馨提醒']) : pick(g.rng, ['### Policy reminder', '### Good to know', '### Staff notice']), '', ...chosen.map((x) => `- ${x}`)].join('\n');
}

const DOCS: readonly [number, (g: G) => string][] = [
  [3, docFaultTicket], [3, docOrder], [2, docQuote], [3, docMaintenance], [2, docMeeting], [4, docFaq], [2, docSpecSheet],
  [3, docProductParagraph], [2, docComparison], [2, docRecommendation], [2, docLeave], [2, docExpense], [2, docIt],
  [2, docRma], [1, docNearMiss], [1, docShipment], [1, docRelease], [2, docCompany], [1, docOnboarding], [2, docPolicyNote],
];
const DOC_WEIGHT = DOCS.reduce((s, [w]) => s + w, 0);

/** Share of generated documents written in Chinese. */
export const GENERATED_ZH_SHARE = 0.6;

/**
 * About `approxChars` characters of generated, fact-consistent text (it stops at the first document
 * boundary past the target), documents separated by blank lines. Same seed, same text.
 */
export function generateDemoText(seed: number, approxChars: number): string {
  const rng = new Rng(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < approxChars) {
    const g: G = { rng, lang: rng.uniform() < GENERATED_ZH_SHARE ? 'zh' : 'en' };
    let r = rng.uniform() * DOC_WEIGHT;
    let fn = DOCS[DOCS.length - 1][1];
    for (const [w, f] of DOCS) {
      if (r < w) { fn = f; break; }
      r -= w;
    }
    const doc = g.lang === 'zh' ? tidyZh(fn(g)) : fn(g);
    parts.push(doc);
    n += doc.length + 2;
  }
  return parts.join('\n\n') + '\n';
}

/** Convenience: what a pretraining run sees — hand-written corpus then generated text, one string. */
export function demoPretrainText(seed: number, generatedChars: number): string {
  const hand = loadDemoCorpus().map((d) => d.text.trim()).join('\n\n');
  return hand + '\n\n' + generateDemoText(seed, generatedChars);
}
