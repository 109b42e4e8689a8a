/**
 * `npm run bench:postgres-driver`: the CPU the PostgreSQL driver itself spends per statement,
 * in this process, on the PostgreSQL at DATABASE_URL (or TEST_DATABASE_URL, or a throwaway
 * server of its own). Statements are sent 500 at a time over two connections, as a busy
 * subgraph does; the first 30,000 warm the JIT up and are not counted. Prints CPU (user +
 * system) and wall time per statement, best of three rounds.
 *
 * To see what `patches/` does to the driver, run it, then `npx patch-package --reverse`,
 * run it again, and `npx patch-package` to apply the patches again.
 */
import postgres from 'postgres';
import { startTestPostgres, type TestPostgresServer } from '../platform/test-servers';

const BATCH = 500;
const WARMUP_BATCHES = 60;
const MEASURED_BATCHES = 100;
const ROUNDS = 3;

async function main(): Promise<void> {
  let server: TestPostgresServer | undefined;
  let url = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!url) {
    server = await startTestPostgres();
    url = server.url;
  }
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const batch = async () => {
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < BATCH; i += 1) sent.push(sql`select ${i}::int as n, ${`name ${i}`} as name`);
    await Promise.all(sent);
  };
  try {
    for (let i = 0; i < WARMUP_BATCHES; i += 1) await batch();
    const rounds: { cpuUs: number; wallUs: number }[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const cpu = process.cpuUsage();
      const began = performance.now();
      for (let i = 0; i < MEASURED_BATCHES; i += 1) await batch();
      const used = process.cpuUsage(cpu);
      const statements = BATCH * MEASURED_BATCHES;
      rounds.push({ cpuUs: (used.user + used.system) / statements, wallUs: ((performance.now() - began) * 1000) / statements });
    }
    const best = rounds.reduce((a, b) => (b.cpuUs < a.cpuUs ? b : a));
    console.log(`node ${process.version}; ${BATCH * MEASURED_BATCHES} statements a round, ${ROUNDS} rounds, after ${BATCH * WARMUP_BATCHES} to warm up`);
    console.log(`driver CPU per statement: ${best.cpuUs.toFixed(1)} µs (rounds: ${rounds.map((r) => r.cpuUs.toFixed(1)).join(', ')})`);
    console.log(`wall time per statement: ${best.wallUs.toFixed(1)} µs`);
  } finally {
    await sql.end();
    await server?.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
