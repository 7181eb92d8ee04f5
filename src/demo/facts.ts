/**
 * The demo's single source of truth about the fictional company 云杉智造 / Spruce Robotics:
 * products and specs, people, departments, offices, customers, service plans, spare parts,
 * HR / expense / IT / safety policies and software releases. The hand-written corpus
 * (demo/corpus/*.md), the text generator (corpus.ts) and the fine-tuning datasets (datasets.ts)
 * all state these numbers; change a value here and in the Markdown together.
 */

export type Lang = 'zh' | 'en';

export const COMPANY = {
  nameZh: '云杉智造',
  nameEn: 'Spruce Robotics',
  legalNameZh: '杭州云杉智造科技有限公司',
  legalNameEn: 'Hangzhou Spruce Robotics Co., Ltd.',
  foundedYear: 2016,
  foundedMonth: 3,
  hqZh: '杭州市余杭区云杉路 88 号',
  hqEn: 'No. 88 Yunshan Road, Yuhang District, Hangzhou',
  employees: 420,
  customers: 230,
  countries: 14,
  robotsShipped: 6800,
  hotline: '400-820-6688',
  supportEmail: 'support@spruce-robotics.example',
  hrEmail: 'hr@spruce-robotics.example',
  securityEmail: 'security@spruce-robotics.example',
  website: 'www.spruce-robotics.example',
  sloganZh: '让每一件货物找到路',
  sloganEn: 'Every parcel finds its way.',
  assistantNameZh: '小杉',
  assistantNameEn: 'Spruce Assistant',
} as const;

export interface Office {
  id: string;
  nameZh: string;
  nameEn: string;
  cityZh: string;
  cityEn: string;
  opened: number;
  roleZh: string;
  roleEn: string;
}

export const OFFICES: readonly Office[] = [
  { id: 'hq', nameZh: '杭州总部', nameEn: 'Hangzhou headquarters', cityZh: '杭州', cityEn: 'Hangzhou', opened: 2016, roleZh: '研发、产品、销售与职能部门', roleEn: 'R&D, product, sales and corporate functions' },
  { id: 'jiaxing', nameZh: '嘉兴工厂', nameEn: 'Jiaxing plant', cityZh: '嘉兴', cityEn: 'Jiaxing', opened: 2019, roleZh: '整机装配、测试与备件仓库', roleEn: 'final assembly, testing and the spare-parts warehouse' },
  { id: 'shenzhen', nameZh: '深圳办事处', nameEn: 'Shenzhen sales office', cityZh: '深圳', cityEn: 'Shenzhen', opened: 2020, roleZh: '华南销售与售后', roleEn: 'sales and service for South China' },
  { id: 'singapore', nameZh: '新加坡办公室', nameEn: 'Singapore office', cityZh: '新加坡', cityEn: 'Singapore', opened: 2022, roleZh: '东南亚业务', roleEn: 'business in Southeast Asia' },
  { id: 'rotterdam', nameZh: '鹿特丹服务中心', nameEn: 'Rotterdam service center', cityZh: '鹿特丹', cityEn: 'Rotterdam', opened: 2023, roleZh: '欧洲售后与备件', roleEn: 'service and spare parts for Europe' },
];

export type ProductCode = 'T100' | 'L300' | 'L1200' | 'F1500' | 'P20';

export interface Product {
  code: ProductCode;
  /** Full names as used in text, e.g. "云杉 T100 料箱机器人" / "Spruce T100 tote robot". */
  nameZh: string;
  nameEn: string;
  typeZh: string;
  typeEn: string;
  nicknameZh: string;
  nicknameEn: string;
  payloadKg: number;
  speedMs: number;
  batteryKwh: number;
  runtimeH: number;
  chargeH: number;
  navZh: string;
  navEn: string;
  priceCny: number;
  priceUsd: number;
  warrantyYears: number;
  launchYear: number;
  weightKg: number;
  ip: string;
  /** Only the forklift lifts above floor level. */
  liftHeightM?: number;
  useZh: string;
  useEn: string;
}

export const PRODUCTS: readonly Product[] = [
  {
    code: 'T100', nameZh: '云杉 T100 料箱机器人', nameEn: 'Spruce T100 tote robot',
    typeZh: '料箱搬运机器人', typeEn: 'tote-handling robot', nicknameZh: '松鼠', nicknameEn: 'Squirrel',
    payloadKg: 50, speedMs: 1.5, batteryKwh: 1.2, runtimeH: 8, chargeH: 1.5,
    navZh: '激光 SLAM', navEn: 'laser SLAM', priceCny: 68000, priceUsd: 9800, warrantyYears: 2,
    launchYear: 2019, weightKg: 85, ip: 'IP54',
    useZh: '电商仓和零配件仓里的料箱搬运', useEn: 'moving totes in e-commerce and spare-parts warehouses',
  },
  {
    code: 'L300', nameZh: '云杉 L300 潜伏顶升机器人', nameEn: 'Spruce L300 lifting robot',
    typeZh: '潜伏顶升机器人', typeEn: 'under-ride lifting robot', nicknameZh: '河狸', nicknameEn: 'Beaver',
    payloadKg: 300, speedMs: 1.6, batteryKwh: 1.8, runtimeH: 10, chargeH: 2,
    navZh: '二维码与激光 SLAM 融合导航', navEn: 'QR code plus laser SLAM', priceCny: 98000, priceUsd: 13900, warrantyYears: 2,
    launchYear: 2018, weightKg: 160, ip: 'IP54',
    useZh: '货到人拣选中顶升和搬运货架', useEn: 'lifting and moving shelves for goods-to-person picking',
  },
  {
    code: 'L1200', nameZh: '云杉 L1200 重载顶升机器人', nameEn: 'Spruce L1200 heavy-duty lifting robot',
    typeZh: '重载顶升机器人', typeEn: 'heavy-duty lifting robot', nicknameZh: '棕熊', nicknameEn: 'Bear',
    payloadKg: 1200, speedMs: 1.2, batteryKwh: 3.6, runtimeH: 8, chargeH: 2.5,
    navZh: '二维码导航', navEn: 'QR code navigation', priceCny: 168000, priceUsd: 23800, warrantyYears: 3,
    launchYear: 2021, weightKg: 480, ip: 'IP55',
    useZh: '工厂线边物流和重型料架搬运', useEn: 'line-side logistics and heavy racks in factories',
  },
  {
    code: 'F1500', nameZh: '云杉 F1500 无人叉车', nameEn: 'Spruce F1500 autonomous forklift',
    typeZh: '无人叉车', typeEn: 'autonomous forklift', nicknameZh: '驼鹿', nicknameEn: 'Moose',
    payloadKg: 1500, speedMs: 1.0, batteryKwh: 9.6, runtimeH: 8, chargeH: 3,
    navZh: '激光 SLAM 加反光板', navEn: 'laser SLAM with reflectors', priceCny: 328000, priceUsd: 46500, warrantyYears: 3,
    launchYear: 2022, weightKg: 1350, ip: 'IP55', liftHeightM: 3,
    useZh: '托盘搬运、装卸车和地堆库', useEn: 'pallet moves, truck loading and floor-stacked storage',
  },
  {
    code: 'P20', nameZh: '云杉 P20 拣选协作机器人', nameEn: 'Spruce P20 picking cobot',
    typeZh: '拣选协作机器人', typeEn: 'collaborative picking robot', nicknameZh: '啄木鸟', nicknameEn: 'Woodpecker',
    payloadKg: 20, speedMs: 1.2, batteryKwh: 0.9, runtimeH: 12, chargeH: 1,
    navZh: '视觉 SLAM', navEn: 'visual SLAM', priceCny: 45000, priceUsd: 6500, warrantyYears: 2,
    launchYear: 2023, weightKg: 62, ip: 'IP43',
    useZh: '与拣货员协同作业的人机协作拣选', useEn: 'picking side by side with human pickers',
  },
];

export function product(code: ProductCode): Product {
  const p = PRODUCTS.find((x) => x.code === code);
  if (!p) throw new Error(`unknown product ${code}`);
  return p;
}

/** Limits that apply to every robot model. */
export const ROBOT_COMMON = {
  batteryChemistryZh: '磷酸铁锂',
  batteryChemistryEn: 'LiFePO4',
  operatingTempZh: '0–45 °C',
  operatingTempEn: '0–45 °C',
  minTempC: 0,
  maxTempC: 45,
  sharedZoneSpeedMs: 0.8,
  slowDownDistanceM: 2,
  stopDistanceM: 0.5,
  chargerClearanceM: 1,
} as const;

export interface Person {
  id: string;
  nameZh: string;
  nameEn: string;
  titleZh: string;
  titleEn: string;
  dept: DeptId;
}

export type DeptId = 'ceo' | 'rnd' | 'product' | 'mfg' | 'cs' | 'sales' | 'intl' | 'hr' | 'finance' | 'it' | 'ehs';

export interface Department {
  id: DeptId;
  nameZh: string;
  nameEn: string;
  head: string; // person id
  officeId: string;
}

export const PEOPLE: readonly Person[] = [
  { id: 'lin', nameZh: '林远舟', nameEn: 'Lin Yuanzhou', titleZh: '创始人兼首席执行官', titleEn: 'founder and CEO', dept: 'ceo' },
  { id: 'su', nameZh: '苏晓晴', nameEn: 'Su Xiaoqing', titleZh: '联合创始人兼首席技术官', titleEn: 'co-founder and CTO', dept: 'rnd' },
  { id: 'zhou', nameZh: '周以宁', nameEn: 'Zhou Yining', titleZh: '产品副总裁', titleEn: 'VP of Product', dept: 'product' },
  { id: 'wang', nameZh: '王建国', nameEn: 'Wang Jianguo', titleZh: '嘉兴工厂厂长', titleEn: 'director of the Jiaxing plant', dept: 'mfg' },
  { id: 'zhao', nameZh: '赵雨桐', nameEn: 'Zhao Yutong', titleZh: '客户成功部负责人', titleEn: 'head of Customer Success', dept: 'cs' },
  { id: 'chen', nameZh: '陈浩然', nameEn: 'Chen Haoran', titleZh: '中国区销售副总裁', titleEn: 'VP of Sales, China', dept: 'sales' },
  { id: 'okafor', nameZh: '丹尼尔·奥卡福', nameEn: 'Daniel Okafor', titleZh: '国际业务负责人', titleEn: 'head of International Business', dept: 'intl' },
  { id: 'he', nameZh: '何静', nameEn: 'He Jing', titleZh: '人力资源总监', titleEn: 'HR director', dept: 'hr' },
  { id: 'liu', nameZh: '刘佳', nameEn: 'Liu Jia', titleZh: '首席财务官', titleEn: 'CFO', dept: 'finance' },
  { id: 'sun', nameZh: '孙磊', nameEn: 'Sun Lei', titleZh: '信息技术与安全负责人', titleEn: 'head of IT and Security', dept: 'it' },
  { id: 'zheng', nameZh: '郑思远', nameEn: 'Zheng Siyuan', titleZh: '质量与安全部负责人', titleEn: 'head of Quality and Safety', dept: 'ehs' },
  { id: 'devries', nameZh: '安娜·德弗里斯', nameEn: 'Anna de Vries', titleZh: '鹿特丹服务中心经理', titleEn: 'manager of the Rotterdam service center', dept: 'cs' },
];

export const DEPARTMENTS: readonly Department[] = [
  { id: 'ceo', nameZh: '总裁办', nameEn: 'Office of the CEO', head: 'lin', officeId: 'hq' },
  { id: 'rnd', nameZh: '研发中心', nameEn: 'R&D Center', head: 'su', officeId: 'hq' },
  { id: 'product', nameZh: '产品部', nameEn: 'Product Department', head: 'zhou', officeId: 'hq' },
  { id: 'mfg', nameZh: '制造与供应链部', nameEn: 'Manufacturing and Supply Chain', head: 'wang', officeId: 'jiaxing' },
  { id: 'cs', nameZh: '客户成功部', nameEn: 'Customer Success', head: 'zhao', officeId: 'hq' },
  { id: 'sales', nameZh: '销售部', nameEn: 'Sales', head: 'chen', officeId: 'hq' },
  { id: 'intl', nameZh: '国际业务部', nameEn: 'International Business', head: 'okafor', officeId: 'singapore' },
  { id: 'hr', nameZh: '人力资源部', nameEn: 'Human Resources', head: 'he', officeId: 'hq' },
  { id: 'finance', nameZh: '财务部', nameEn: 'Finance', head: 'liu', officeId: 'hq' },
  { id: 'it', nameZh: '信息技术部', nameEn: 'IT Department', head: 'sun', officeId: 'hq' },
  { id: 'ehs', nameZh: '质量与安全部', nameEn: 'Quality and Safety', head: 'zheng', officeId: 'jiaxing' },
];

export function person(id: string): Person {
  const p = PEOPLE.find((x) => x.id === id);
  if (!p) throw new Error(`unknown person ${id}`);
  return p;
}

export function dept(id: DeptId): Department {
  const d = DEPARTMENTS.find((x) => x.id === id);
  if (!d) throw new Error(`unknown department ${id}`);
  return d;
}

/** Staff who appear in generated tickets, logs and notes (not department heads). */
export const STAFF: readonly { nameZh: string; nameEn: string; roleZh: string; roleEn: string; officeId: string }[] = [
  { nameZh: '许诺', nameEn: 'Xu Nuo', roleZh: '技术支持工程师', roleEn: 'support engineer', officeId: 'hq' },
  { nameZh: '韩冰', nameEn: 'Han Bing', roleZh: '技术支持工程师', roleEn: 'support engineer', officeId: 'hq' },
  { nameZh: '马骁', nameEn: 'Ma Xiao', roleZh: '现场服务工程师', roleEn: 'field service engineer', officeId: 'shenzhen' },
  { nameZh: '李婷', nameEn: 'Li Ting', roleZh: '客户经理', roleEn: 'account manager', officeId: 'hq' },
  { nameZh: '吴昊', nameEn: 'Wu Hao', roleZh: '现场服务工程师', roleEn: 'field service engineer', officeId: 'jiaxing' },
  { nameZh: '蒋悦', nameEn: 'Jiang Yue', roleZh: '招聘专员', roleEn: 'recruiter', officeId: 'hq' },
  { nameZh: '普丽娅·奈尔', nameEn: 'Priya Nair', roleZh: '技术支持工程师', roleEn: 'support engineer', officeId: 'singapore' },
  { nameZh: '汤姆·巴克', nameEn: 'Tom Bakker', roleZh: '现场服务工程师', roleEn: 'field service engineer', officeId: 'rotterdam' },
];

export interface Customer {
  nameZh: string;
  nameEn: string;
  cityZh: string;
  cityEn: string;
  industryZh: string;
  industryEn: string;
  since: number;
}

export const CUSTOMERS: readonly Customer[] = [
  { nameZh: '宁波海川物流', nameEn: 'Ningbo Haichuan Logistics', cityZh: '宁波', cityEn: 'Ningbo', industryZh: '第三方物流', industryEn: 'third-party logistics', since: 2018 },
  { nameZh: '苏州恒达电子', nameEn: 'Suzhou Hengda Electronics', cityZh: '苏州', cityEn: 'Suzhou', industryZh: '电子制造', industryEn: 'electronics manufacturing', since: 2019 },
  { nameZh: '成都锦程医药', nameEn: 'Chengdu Jincheng Pharma', cityZh: '成都', cityEn: 'Chengdu', industryZh: '医药流通', industryEn: 'pharmaceutical distribution', since: 2020 },
  { nameZh: '广州百味食品', nameEn: 'Guangzhou Baiwei Foods', cityZh: '广州', cityEn: 'Guangzhou', industryZh: '食品饮料', industryEn: 'food and beverage', since: 2021 },
  { nameZh: '武汉长江汽配', nameEn: 'Wuhan Changjiang Auto Parts', cityZh: '武汉', cityEn: 'Wuhan', industryZh: '汽车零部件', industryEn: 'auto parts', since: 2021 },
  { nameZh: '海港巷物流', nameEn: 'Harbor Lane Logistics', cityZh: '新加坡', cityEn: 'Singapore', industryZh: '跨境电商物流', industryEn: 'cross-border e-commerce logistics', since: 2022 },
  { nameZh: '范德梅尔冷链', nameEn: 'Vandermeer Cold Chain', cityZh: '鹿特丹', cityEn: 'Rotterdam', industryZh: '冷链物流', industryEn: 'cold-chain logistics', since: 2023 },
];

export interface ServicePlan {
  id: 'standard' | 'gold';
  nameZh: string;
  nameEn: string;
  /** Yearly price per robot; 0 = included while under warranty. */
  priceCnyPerRobotYear: number;
  hoursZh: string;
  hoursEn: string;
  responseZh: string;
  responseEn: string;
  responseMinutes: number;
  onsiteHours: number;
  preventiveVisitsPerYear: number;
  sparePartsIncluded: boolean;
}

export const SERVICE_PLANS: readonly ServicePlan[] = [
  {
    id: 'standard', nameZh: '标准服务', nameEn: 'Standard plan', priceCnyPerRobotYear: 0,
    hoursZh: '周一至周六 8:00–20:00', hoursEn: 'Monday to Saturday, 8:00–20:00',
    responseZh: '4 小时', responseEn: '4 hours', responseMinutes: 240, onsiteHours: 48,
    preventiveVisitsPerYear: 1, sparePartsIncluded: false,
  },
  {
    id: 'gold', nameZh: '金牌服务', nameEn: 'Gold plan', priceCnyPerRobotYear: 6000,
    hoursZh: '全年 7×24 小时', hoursEn: '24/7, all year',
    responseZh: '30 分钟', responseEn: '30 minutes', responseMinutes: 30, onsiteHours: 8,
    preventiveVisitsPerYear: 4, sparePartsIncluded: true,
  },
];

export const WARRANTY = {
  /** Extended warranty: each extra year costs this share of the robot's list price. */
  extendedPerYearRate: 0.08,
  extendedMaxYears: 3,
  batteryYears: 2,
  batteryCycles: 1500,
  returnDays: 15,
  restockingFeeRate: 0.05,
  doaDays: 30,
  refundDays: 14,
  depotRepairWorkingDays: 10,
  partsWarrantyMonths: 6,
  exclusionsZh: ['使用不当造成的碰撞损坏', '进水或液体损坏', '未经授权的改装或刷机', '轮胎、防撞条等易损件的正常磨损', '在 0–45 °C 以外的环境中运行造成的损坏'],
  exclusionsEn: ['collision damage caused by misuse', 'water or liquid damage', 'unauthorized modification or firmware', 'normal wear of consumables such as tyres and bumper strips', 'damage from running outside 0–45 °C'],
} as const;

export interface Part {
  id: string;
  nameZh: string;
  nameEn: string;
  priceCny: number;
}

export const PARTS: readonly Part[] = [
  { id: 'wheel', nameZh: '驱动轮', nameEn: 'drive wheel', priceCny: 1200 },
  { id: 'bumper', nameZh: '防撞条', nameEn: 'bumper strip', priceCny: 380 },
  { id: 'charger', nameZh: '充电桩', nameEn: 'charging station', priceCny: 4500 },
  { id: 'lidar', nameZh: '激光雷达', nameEn: 'lidar sensor', priceCny: 8500 },
  { id: 'estop', nameZh: '急停按钮', nameEn: 'emergency-stop button', priceCny: 260 },
  { id: 'battery', nameZh: '标准电池包', nameEn: 'standard battery pack', priceCny: 7200 },
];

export interface ErrorCode {
  code: string;
  zh: string;
  en: string;
  fixZh: string;
  fixEn: string;
}

export const ERROR_CODES: readonly ErrorCode[] = [
  { code: 'E101', zh: '激光雷达被遮挡', en: 'lidar blocked', fixZh: '用软布擦拭雷达窗口', fixEn: 'wipe the lidar window with a soft cloth' },
  { code: 'E204', zh: '电量低于 10%', en: 'battery below 10%', fixZh: '让机器人回充或推到充电桩', fixEn: 'let the robot return to its charger or push it there' },
  { code: 'E301', zh: '二维码丢失', en: 'QR code lost', fixZh: '检查地面二维码标签', fixEn: 'check the QR labels on the floor' },
  { code: 'E402', zh: '急停按钮被按下', en: 'emergency stop pressed', fixZh: '旋转急停按钮复位后在控制台确认', fixEn: 'twist the button to release it, then confirm in the console' },
  { code: 'E503', zh: '驱动电机过流', en: 'drive motor overcurrent', fixZh: '关机后清理缠在驱动轮上的异物', fixEn: 'power off and remove anything wrapped around the drive wheels' },
  { code: 'E610', zh: '定位置信度低', en: 'low localization confidence', fixZh: '在控制台执行重定位', fixEn: 're-localize the robot from the console' },
];

export const TICKET_PRIORITIES: readonly { id: string; zh: string; en: string }[] = [
  { id: 'P1', zh: '整个现场或车队停摆', en: 'a whole site or fleet is down' },
  { id: 'P2', zh: '单台机器人无法工作', en: 'a single robot is out of service' },
  { id: 'P3', zh: '性能下降但仍可运行', en: 'degraded performance, still running' },
  { id: 'P4', zh: '咨询或功能建议', en: 'a question or feature request' },
];

export const SOFTWARE = {
  fleetZh: '云杉调度系统 SpruceFleet',
  fleetEn: 'SpruceFleet',
  fleetLicenseCnyPerRobotYear: 3600,
  /** The first year of SpruceFleet is included with every robot. */
  fleetFirstYearIncluded: true,
  firmwareName: 'SpruceOS',
  hubName: 'SpruceHub',
} as const;

export interface Release {
  product: 'SpruceFleet' | 'SpruceOS';
  version: string;
  date: string; // YYYY-MM
  zh: string[];
  en: string[];
}

export const RELEASES: readonly Release[] = [
  { product: 'SpruceFleet', version: '3.0', date: '2021-06', zh: ['支持 L1200 重载顶升机器人', '新增多机交通管制'], en: ['support for the L1200 heavy-duty lifting robot', 'multi-robot traffic control'] },
  { product: 'SpruceFleet', version: '3.2', date: '2022-04', zh: ['支持 F1500 无人叉车', '新增 WMS 标准接口'], en: ['support for the F1500 autonomous forklift', 'standard WMS connectors'] },
  { product: 'SpruceFleet', version: '3.5', date: '2023-03', zh: ['支持 P20 拣选协作机器人', '新增人机协作拣选流程'], en: ['support for the P20 picking cobot', 'human-robot picking workflows'] },
  { product: 'SpruceFleet', version: '4.0', date: '2024-05', zh: ['全新网页控制台', '新增能耗看板和拥堵热力图'], en: ['a new web console', 'an energy dashboard and congestion heatmaps'] },
  { product: 'SpruceFleet', version: '4.1', date: '2025-01', zh: ['新增电池健康预测', '开放接口增加限流'], en: ['battery health prediction', 'rate limits on the open API'] },
  { product: 'SpruceOS', version: '5.0', date: '2023-02', zh: ['统一五款机型的底层固件', '支持远程升级'], en: ['one firmware base for all five models', 'over-the-air updates'] },
  { product: 'SpruceOS', version: '5.2', date: '2024-03', zh: ['共享区域限速 0.8 m/s 可按区域配置', '改进低温充电保护'], en: ['the 0.8 m/s shared-zone limit can be set per zone', 'better low-temperature charging protection'] },
  { product: 'SpruceOS', version: '5.3', date: '2025-02', zh: ['新增急停自检', '缩短开机时间'], en: ['an emergency-stop self-test', 'faster boot'] },
];

export const HR = {
  workStart: '9:00',
  workEnd: '18:00',
  lunch: '12:00–13:00',
  flexStartEarliest: '8:00',
  flexStartLatest: '10:00',
  coreHours: '10:00–16:00',
  weeklyHours: 40,
  plantShiftEarly: '7:30–16:00',
  plantShiftLate: '15:30–24:00',
  remoteDaysPerWeek: 2,
  annualLeaveFirstYear: 10,
  annualLeaveMax: 20,
  carryOverMaxDays: 5,
  carryOverDeadlineZh: '次年 3 月 31 日',
  carryOverDeadlineEn: 'March 31 of the next year',
  sickLeaveDays: 12,
  sickCertificateAfterDays: 2,
  marriageLeaveDays: 13,
  maternityLeaveDays: 158,
  paternityLeaveDays: 15,
  bereavementLeaveDays: 3,
  leaveNoticeWorkingDays: 3,
  deptHeadApprovalOverDays: 5,
  probationMonths: 3,
  payday: 10,
  trainingBudgetCny: 3000,
  referralBonusCny: 5000,
  freeDinnerAfter: '19:30',
  compTimeMonths: 3,
  firstDayArrival: '9:30',
  orientationDayZh: '每周一',
  orientationDayEn: 'every Monday',
  safetyTrainingHours: 4,
  safetyTrainingWithinDays: 7,
  securityTrainingWithinDays: 14,
  personalLeaveMaxDays: 10,
  giftLimitCny: 200,
  resignationNoticeDays: 30,
  resignationNoticeProbationDays: 3,
} as const;

/** Annual leave by completed years of service: 10 days in the first year, +1 per full year, at most 20. */
export function annualLeaveDays(yearsOfService: number): number {
  return Math.min(HR.annualLeaveFirstYear + Math.max(0, Math.floor(yearsOfService)), HR.annualLeaveMax);
}

export const EXPENSES = {
  submitWithinDays: 30,
  reimburseWorkingDays: 10,
  hotelTier1Cny: 600,
  hotelOtherCny: 450,
  hotelIntlUsd: 180,
  mealDomesticCny: 100,
  mealIntlUsd: 60,
  tier1CitiesZh: ['北京', '上海', '广州', '深圳'],
  tier1CitiesEn: ['Beijing', 'Shanghai', 'Guangzhou', 'Shenzhen'],
  premiumEconomyOverHours: 6,
  lateTaxiAfter: '21:00',
  entertainmentPreapprovalCny: 2000,
  managerLimitCny: 5000,
  deptHeadLimitCny: 20000,
} as const;

export type Approver = 'manager' | 'deptHead' | 'cfo';

/** Who approves an expense claim of this amount (CNY). */
export function expenseApprover(amountCny: number): Approver {
  if (amountCny < EXPENSES.managerLimitCny) return 'manager';
  if (amountCny <= EXPENSES.deptHeadLimitCny) return 'deptHead';
  return 'cfo';
}

export const APPROVER_NAMES: Record<Approver, { zh: string; en: string }> = {
  manager: { zh: '直属经理', en: 'your direct manager' },
  deptHead: { zh: '部门负责人', en: 'your department head' },
  cfo: { zh: '首席财务官', en: 'the CFO' },
};

/** Domestic hotel cap per night (CNY) for a city written in Chinese or English. */
export function hotelCapCny(city: string): number {
  const tier1 = (EXPENSES.tier1CitiesZh as readonly string[]).includes(city) || (EXPENSES.tier1CitiesEn as readonly string[]).includes(city);
  return tier1 ? EXPENSES.hotelTier1Cny : EXPENSES.hotelOtherCny;
}

export const IT = {
  passwordMinLength: 12,
  passwordChangeDays: 180,
  screenLockMinutes: 5,
  incidentReportHours: 1,
  helpdeskExt: '8000',
  helpdeskHours: '8:30–18:30',
  laptopRefreshYears: 4,
  corpWifi: 'Spruce-Corp',
  guestWifi: 'Spruce-Guest',
  customerDataRetentionYears: 3,
  dataClassesZh: ['公开', '内部', '机密', '绝密'],
  dataClassesEn: ['Public', 'Internal', 'Confidential', 'Restricted'],
  softwareCenterZh: '软件中心',
  softwareCenterEn: 'Software Center',
} as const;

export const SALES = {
  /** Robots per charging station, typical range. */
  robotsPerChargerMin: 4,
  robotsPerChargerMax: 6,
  depositRate: 0.3,
  beforeShipRate: 0.6,
  afterAcceptanceRate: 0.1,
  managerDiscountMax: 0.05,
  vpDiscountMax: 0.1,
  quoteValidDays: 30,
  /** Weeks from signing to shipment. */
  leadWeeks: { T100: '4', L300: '4', P20: '4', L1200: '6–8', F1500: '6–8' } as Record<ProductCode, string>,
  burnInHours: 8,
  launchTestHours: 1000,
  seaWeeksSingapore: 1,
  seaWeeksRotterdam: 5,
  operatorTrainingZh: '半天',
  operatorTrainingEn: 'half a day',
  adminTrainingZh: '一天',
  adminTrainingEn: 'a full day',
} as const;

export const SAFETY = {
  nearMissReportHours: 24,
  vestZh: '反光背心',
  vestEn: 'reflective vest',
} as const;

/** Cities used in generated travel; tier-1 ones get the higher hotel cap. */
export const TRAVEL_CITIES: readonly { zh: string; en: string }[] = [
  { zh: '北京', en: 'Beijing' }, { zh: '上海', en: 'Shanghai' }, { zh: '广州', en: 'Guangzhou' }, { zh: '深圳', en: 'Shenzhen' },
  { zh: '成都', en: 'Chengdu' }, { zh: '武汉', en: 'Wuhan' }, { zh: '宁波', en: 'Ningbo' }, { zh: '苏州', en: 'Suzhou' },
  { zh: '西安', en: 'Xi\'an' }, { zh: '郑州', en: 'Zhengzhou' }, { zh: '长沙', en: 'Changsha' }, { zh: '青岛', en: 'Qingdao' },
];

/** "¥68,000": the one way a CNY amount is written everywhere (zh and en). */
export function cny(n: number): string {
  return '¥' + Math.round(n).toLocaleString('en-US');
}

/** "$9,800". */
export function usd(n: number): string {
  return '$' + Math.round(n).toLocaleString('en-US');
}

/** The smallest-payload product that can carry `kg`, or undefined if none can. */
export function productForPayload(kg: number): Product | undefined {
  return [...PRODUCTS].sort((a, b) => a.payloadKg - b.payloadKg).find((p) => p.payloadKg >= kg);
}

/** Price of one extra warranty year for a product (CNY). */
export function extendedWarrantyCny(p: Product, years = 1): number {
  return Math.round(p.priceCny * WARRANTY.extendedPerYearRate) * years;
}
