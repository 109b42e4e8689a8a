/**
 * Latency of catalog search through the router on the full demo catalog (2,400 products):
 * `predictiveSearch` over prefixes as a shopper types them and over typos, and
 * `searchProducts` with facets, one request at a time, printing p50/p95 for each.
 *
 *   npm run bench:search [-- --rounds 10]
 *
 * The embedded shop runs in this process on loopback (PGlite, in-process LRU product cache),
 * seeded with the full catalog and few orders (orders are not searched; seeding them is slow).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FULL_SIZE } from '../platform/demo-shop';
import { startTestShop } from '../embedded/testing';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const ROUNDS = Number(values.rounds);

/** What shoppers type, keystroke by keystroke. */
const TYPING = ['oak tab', 'velvet sof', 'floor lamp', 'chair', 'nordh', 'rattan bas', 'linen duv', 'wall mirr', 'kids', 'ceramic mug'].flatMap(
  (text) => Array.from({ length: text.length }, (_, i) => text.slice(0, i + 1)).filter((prefix) => prefix.trim() === prefix),
);
/** Typos, whole and part-typed. */
const TYPOS = ['tabel', 'chiar', 'sofa bd', 'matress', 'cusion', 'wardobe', 'pilow', 'rattan chiar', 'lampp', 'brigthside', 'walnutt desk', 'mirorr'];
/** Searches as a results page sends them. */
const SEARCHES = ['oak table', 'tabel', 'velvet sofa', 'lamp', 'rattan chair', 'wool rug', 'memory foam', 'brass'];

const PREDICT = `query ($query: String!) {
  predictiveSearch(query: $query, first: 5) {
    products { product { id name price { formatted } } highlights { start length } }
    categories { category { slug name } highlights { start length } }
    brands { brand { slug name } highlights { start length } }
  }
}`;
const SEARCH = `query ($query: String) {
  searchProducts(query: $query, first: 20) {
    totalCount
    edges { node { id name brand { name } price { formatted } } }
    pageInfo { hasNextPage endCursor }
    facets { categories { value { name } count } brands { value { name } count } priceBands { min { formatted } count } }
  }
}`;

const log = (line: string) => process.stderr.write(`${line}\n`);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main() {
  const size = { ...FULL_SIZE, customers: 10, orders: 20 };
  let started = performance.now();
  log(`starting the embedded shop with ${size.products} products...`);
  const shop = await startTestShop({ size });
  log(`seeded and listening in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  try {
    /** Milliseconds each text took through the router, `rounds` times over, after one warm-up pass. */
    async function measure(query: string, texts: readonly string[], rounds: number): Promise<number[]> {
      const times: number[] = [];
      for (let round = -1; round < rounds; round++) {
        for (const text of texts) {
          started = performance.now();
          const res = await shop.query(query, { query: text });
          const ms = performance.now() - started;
          if (res.errors) throw new Error(`${text}: ${JSON.stringify(res.errors)}`);
          if (round >= 0) times.push(ms);
        }
      }
      return times.sort((a, b) => a - b);
    }
    const rows: [string, number[]][] = [
      [`predictiveSearch, typing (${TYPING.length} prefixes)`, await measure(PREDICT, TYPING, ROUNDS)],
      [`predictiveSearch, typos (${TYPOS.length} texts)`, await measure(PREDICT, TYPOS, ROUNDS)],
      [`searchProducts, first 20 with facets (${SEARCHES.length} texts)`, await measure(SEARCH, SEARCHES, ROUNDS)],
    ];
    const sample = await shop.query(PREDICT, { query: 'oak tab' });
    log(`"oak tab" suggests: ${sample.data!.predictiveSearch.products.map((s: { product: { name: string } }) => s.product.name).join(', ')}`);
    console.log(`\n| operation | requests | p50 | p95 |\n|---|---|---|---|`);
    for (const [name, times] of rows) {
      console.log(`| ${name} | ${times.length} | ${percentile(times, 50).toFixed(1)} ms | ${percentile(times, 95).toFixed(1)} ms |`);
    }
  } finally {
    await shop.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
