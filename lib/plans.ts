/**
 * Upstash plans and the cost estimate, in one place: the configuration's defaults, the monitoring
 * stack's alarms and cost widgets, and `npm run bench`'s cost per 1,000 requests all use these.
 */

/** When the figures below were read from Upstash's pricing page (upstash.com/pricing/redis). */
export const PRICES_READ_ON = '2026-11-09';

/** Bytes in a kilobyte, megabyte, ...: binary, as Redis counts memory (`256mb` = 256 × 1024²). */
export const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** The plans Upstash publishes that the configuration knows by name. */
export const PLAN_PRESET_NAMES = ['free', 'pay-as-you-go', 'fixed-250mb'] as const;

/** The name of a preset plan. */
export type PlanPreset = (typeof PLAN_PRESET_NAMES)[number];

const MB = 1024 ** 2;
const GB = 1024 ** 3;

/** The limits and price of the plan one database is on. */
export interface UpstashPlan {
  /** The preset it starts from (`free`, `pay-as-you-go`, `fixed-250mb`). */
  readonly preset: PlanPreset;
  /**
   * Commands per day the plan allows: the daily-commands alarm fires at 80 % of it.
   * Undefined for plans without a command limit (no alarm, unless you set one as a soft cap).
   */
  readonly dailyCommands?: number;
  /** Largest data size, in bytes: the memory alarm fires at 85 % of it. */
  readonly maxDataBytes: number;
  /** Bandwidth per month the plan includes, in bytes (charged or refused beyond). */
  readonly monthlyBandwidthBytes: number;
  /** Dollars per 100,000 billed commands. */
  readonly pricePer100kCommands: number;
  /** Fixed dollars per month, whatever the commands. */
  readonly monthlyFeeUsd: number;
}

/** The plans Upstash published, by name. */
export const PLAN_PRESETS: Readonly<Record<PlanPreset, UpstashPlan>> = {
  /** $0; 500K commands per month (as a daily limit: 500,000 / 30); 256 MB; 10 GB bandwidth. */
  free: {
    preset: 'free',
    dailyCommands: Math.floor(500_000 / 30),
    maxDataBytes: 256 * MB,
    monthlyBandwidthBytes: 10 * GB,
    pricePer100kCommands: 0,
    monthlyFeeUsd: 0,
  },
  /**
   * $0.20 per 100K commands, no command limit; data up to 100 GB (first GB of storage free, then
   * $0.25/GB, not in the estimate); 200 GB bandwidth free per month, then $0.03/GB (not in the
   * estimate).
   */
  'pay-as-you-go': {
    preset: 'pay-as-you-go',
    maxDataBytes: 100 * GB,
    monthlyBandwidthBytes: 200 * GB,
    pricePer100kCommands: 0.2,
    monthlyFeeUsd: 0,
  },
  /** $10 per month, 250 MB, 50 GB bandwidth, commands not charged. */
  'fixed-250mb': {
    preset: 'fixed-250mb',
    maxDataBytes: 250 * MB,
    monthlyBandwidthBytes: 50 * GB,
    pricePer100kCommands: 0,
    monthlyFeeUsd: 10,
  },
};

/** The plan of a database that names none. */
export const DEFAULT_PLAN: PlanPreset = 'pay-as-you-go';

/** Days a month counts in the estimate. */
export const DAYS_PER_MONTH = 30;

/** Share of the plan's daily commands at which the alarm fires. */
export const DAILY_COMMANDS_ALARM_SHARE = 0.8;

/** Share of the plan's data size at which the memory alarm fires. */
export const MEMORY_ALARM_SHARE = 0.85;

/** Dollars `billed` commands cost on `plan` (commands only, no fee). */
export const commandsCostUsd = (plan: UpstashPlan, billed: number): number =>
  (billed * plan.pricePer100kCommands) / 100_000;

/**
 * The monthly cost of a database on `plan` that bills `billedPerDay` commands a day:
 * fee + billedPerDay × 30 × price / 100,000. Storage above the free GB and bandwidth above the
 * plan's are not in it (the dashboard shows both next to the plan).
 */
export const monthlyCostUsd = (plan: UpstashPlan, billedPerDay: number): number =>
  plan.monthlyFeeUsd + commandsCostUsd(plan, billedPerDay * DAYS_PER_MONTH);

/** A size for people: `256 MB`, `1.5 GB`. */
export const formatSize = (bytes: number): string =>
  bytes >= GB ? `${Math.round((bytes / GB) * 10) / 10} GB` : `${Math.round(bytes / MB)} MB`;
