/**
 * Cloudflare's published unit prices, Workers Paid plan, as marginal prices past the amounts the
 * plan includes each month. One table, with the page each price is published on and the date it
 * was read; the cost section multiplies the bench's measured units by these. When Cloudflare
 * changes a price, change it here (and the date).
 *
 * Read from the pages' published sources (cloudflare/cloudflare-docs: workers/platform/pricing,
 * partials/workers/d1-pricing and partials/workers/queues_pricing).
 */

/** When the prices below were read. */
export const PRICES_READ_ON = "2026-12-01";

export interface UnitPrice {
  /** What is billed. */
  unit: string;
  /** US dollars per million units past the included amount (storage: per GB-month). */
  dollarsPerMillion: number;
  /** What the plan includes each month before this price applies. */
  included: string;
  url: string;
}

const WORKERS = "https://developers.cloudflare.com/workers/platform/pricing/";
const D1 = "https://developers.cloudflare.com/d1/platform/pricing/";
const QUEUES = "https://developers.cloudflare.com/queues/platform/pricing/";

export const PRICES = {
  requests: { unit: "Workers request (Standard usage model)", dollarsPerMillion: 0.3, included: "10 million / month", url: WORKERS },
  cpuMs: { unit: "Workers CPU millisecond", dollarsPerMillion: 0.02, included: "30 million CPU ms / month", url: WORKERS },
  d1RowsRead: { unit: "D1 row read", dollarsPerMillion: 0.001, included: "25 billion / month", url: D1 },
  d1RowsWritten: { unit: "D1 row written", dollarsPerMillion: 1.0, included: "50 million / month", url: D1 },
  queueOperations: { unit: "Queues operation (each 64 KB written, read or deleted)", dollarsPerMillion: 0.4, included: "1 million / month", url: QUEUES },
} as const satisfies Record<string, UnitPrice>;

/** D1 storage: US dollars per GB-month past the first 5 GB (same page as D1's rows). */
export const D1_STORAGE = { unit: "D1 storage, GB-month", dollarsPerGbMonth: 0.75, included: "5 GB", url: D1 } as const;

/** The Workers Paid plan's monthly minimum: not a marginal cost, so not in the per-unit figures. */
export const WORKERS_PAID_MONTHLY_DOLLARS = 5;
