/**
 * `npm run bench:rate-limit`: what the partner rate limiter adds to a request with Redis —
 * one take before the operation and one refund after it, each a Lua script on the Redis at
 * REDIS_URL (or TEST_REDIS_URL) over loopback. Runs a fixed number of requests one after
 * another on one key and prints p50 and p99 of take, refund and both together.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../platform/logger';
import { redisBudget } from '../router/rate-limit';

const REQUESTS = 5_000;
const WARMUP = 200;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Times take and refund on the Redis at `url`; resolves with the lines to print. */
export async function rateLimiterLatency(url: string): Promise<string> {
  const prefix = `bench-${randomBytes(6).toString('hex')}`;
  const budget = redisBudget({ url, prefix, logger: silentLogger() });
  // A bucket that never runs dry, so every take succeeds and every refund has something to give back.
  const key = { id: 'bench', maximumAvailable: 1_000_000_000, restoreRate: 1_000_000 };
  const takes: number[] = [];
  const refunds: number[] = [];
  const both: number[] = [];
  try {
    for (let i = 0; i < WARMUP + REQUESTS; i += 1) {
      const t0 = process.hrtime.bigint();
      await budget.take(key, 17);
      const t1 = process.hrtime.bigint();
      await budget.refund(key, 5);
      const t2 = process.hrtime.bigint();
      if (i < WARMUP) continue;
      takes.push(Number(t1 - t0) / 1e6);
      refunds.push(Number(t2 - t1) / 1e6);
      both.push(Number(t2 - t0) / 1e6);
    }
  } finally {
    await budget.close();
  }
  const line = (name: string, values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `  ${name.padEnd(16)} p50 ${percentile(sorted, 50).toFixed(3)} ms   p99 ${percentile(sorted, 99).toFixed(3)} ms`;
  };
  return [`partner rate limiter on Redis (${url.replace(/\/\/[^@]*@/, '//')}), ${REQUESTS} requests in sequence:`, line('take', takes), line('refund', refunds), line('take + refund', both), ''].join('\n');
}

/** The Redis to measure on: REDIS_URL, else TEST_REDIS_URL. */
export const benchRedisUrl = () => process.env.REDIS_URL ?? process.env.TEST_REDIS_URL;

if (require.main === module) {
  const url = benchRedisUrl();
  if (!url) {
    process.stderr.write('set REDIS_URL or TEST_REDIS_URL\n');
    process.exit(1);
  }
  rateLimiterLatency(url).then(
    (text) => process.stdout.write(text),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
