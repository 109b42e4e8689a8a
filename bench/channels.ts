/**
 * `npm run bench:channels`: the router's requests per second on one manifest operation sent
 * by id (as the mobile apps send it) against the same operation sent as text (as any other
 * client may), in one run against the embedded shop started in this process.
 *
 *   npx tsx bench/channels.ts [--operation ProductPage] [--seconds 10] [--concurrency 16] [--rounds 2]
 *
 * Each round runs both channels one after the other for the same time, with N concurrent
 * request loops over keep-alive connections on loopback; the rounds alternate the order so
 * that a warming JIT or a growing cache favours neither. Figures go to stdout.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { ManifestOperation } from '../schema/manifest';
import { MANIFEST_FILE } from '../schema/operations';
import { benchRedisUrl, rateLimiterLatency } from './rate-limit';
import { startTestShop } from '../embedded/testing';

const { values } = parseArgs({
  options: {
    operation: { type: 'string', default: 'ProductPage' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
if (!(seconds > 0 && seconds <= 120) || !(concurrency >= 1 && concurrency <= 256) || !(rounds >= 1 && rounds <= 10)) {
  throw new Error('--seconds 1–120, --concurrency 1–256, --rounds 1–10');
}

const found = (JSON.parse(fs.readFileSync(MANIFEST_FILE, 'utf8')).operations as ManifestOperation[]).find((op) => op.name === values.operation);
if (!found || found.type !== 'query') throw new Error(`${values.operation} is not a query of the manifest`);
const operation: ManifestOperation = found;

interface Figures {
  requests: number;
  errors: number;
  latencies: number[];
}

/** `concurrency` loops sending `body` for `seconds`; every response is read and checked. */
async function drive(url: string, headers: Record<string, string>, body: string): Promise<Figures> {
  const figures: Figures = { requests: 0, errors: 0, latencies: [] };
  const until = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const result = (await res.json()) as { errors?: unknown[] };
      figures.latencies.push(performance.now() - started);
      figures.requests++;
      if (res.status !== 200 || result.errors) figures.errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return figures;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function main() {
  process.stderr.write('starting the shop (small demo data)…\n');
  const shop = await startTestShop();
  try {
    const variables = { id: shop.data.products[0]!.id };
    const channels = {
      'by id (ios)': {
        headers: { 'apollographql-client-name': 'ios', 'apollographql-client-version': 'bench' },
        body: JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: operation.id } } }),
      },
      'as text (web)': {
        headers: { 'apollographql-client-name': 'web', 'apollographql-client-version': 'bench' },
        body: JSON.stringify({ query: operation.body, variables }),
      },
    };
    const totals = new Map<string, Figures>(Object.keys(channels).map((name) => [name, { requests: 0, errors: 0, latencies: [] }]));
    // A short warm-up of both: plans cached, connections open.
    for (const { headers, body } of Object.values(channels)) await drive(shop.url, headers, body).catch(() => undefined);
    for (let round = 0; round < rounds; round++) {
      const order = Object.entries(channels);
      if (round % 2 === 1) order.reverse();
      for (const [name, { headers, body }] of order) {
        process.stderr.write(`round ${round + 1}: ${name}…\n`);
        const figures = await drive(shop.url, headers, body);
        const total = totals.get(name)!;
        total.requests += figures.requests;
        total.errors += figures.errors;
        total.latencies.push(...figures.latencies);
      }
    }
    const lines = [
      `${operation.name} (${operation.body.length} bytes of text), ${concurrency} concurrent loops, ${rounds} × ${seconds} s per channel, Node ${process.version}`,
      '',
      '| channel | requests | req/s | p50 ms | p99 ms | errors |',
      '|---|---|---|---|---|---|',
    ];
    for (const [name, figures] of totals) {
      const sorted = figures.latencies.sort((a, b) => a - b);
      const rps = figures.requests / (rounds * seconds);
      lines.push(`| ${name} | ${figures.requests} | ${rps.toFixed(0)} | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} | ${figures.errors} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await shop.close();
  }
  // The partners' channel: what the cost-based rate limiter adds to each request.
  const redisUrl = benchRedisUrl();
  process.stdout.write(redisUrl ? `\n${await rateLimiterLatency(redisUrl)}` : '\nrate limiter: set REDIS_URL (or TEST_REDIS_URL) to measure it on Redis\n');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
