/**
 * The embedded shop's six subgraphs in one process (`startTestShop`: PGlite, in-process
 * events, a small seeded demo shop), for benchmarks that run a router in a process of its
 * own over them. It reports over IPC, once listening, `{kind: 'listening', urls, token,
 * publicKey}`: each subgraph's URL, the access token of a demo customer with orders, and the
 * public key a router needs to accept that token.
 * It stops on SIGTERM, SIGINT, or when the benchmark that started it is gone.
 *
 *   node --import tsx bench/shop-subgraphs.ts      (started by a benchmark)
 */
import { startTestShop } from '../embedded/testing';

async function main(): Promise<void> {
  const shop = await startTestShop();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void shop.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  const customer = shop.data.customers.find((c) => !c.admin && shop.data.orders.some((o) => o.customerId === c.id));
  if (!customer) throw new Error('the demo shop has no customer with orders');
  const token = await shop.login(customer.email);
  const urls = Object.fromEntries([...shop.subgraphs].map(([name, { service }]) => [name, service.url]));
  process.send?.({ kind: 'listening', urls, token, publicKey: shop.deps.config.JWT_PUBLIC_KEY });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
