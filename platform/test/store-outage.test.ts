/**
 * A PostgreSQL server that crashes and comes back (`pg_ctl stop -m immediate`, as a
 * crash or a failover does) while the shop writes to it: the process lives on, requests
 * fail fast with a code that says "retry", `/ready` says so, and writes resume soon
 * after the server answers again. "Lives on" is Jest's own check: it fails the test during
 * which anything reaches the process's last-resort handlers (an uncaught exception, a
 * rejection nobody handles), which in a subgraph would end the process.
 */
import net from 'node:net';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../db';
import { silentLogger } from '../logger';
import { isStoreUnavailable } from '../store-unavailable';
import { canRunServers, freePort, startTestPostgres, type TestPostgresServer } from '../test-servers';
import { serveTestSubgraph, sleep, testDeps, type TestDeps } from '../testing';
import { startRouter, type RunningRouter } from '../../router/router';
import { inventorySubgraph, openInventoryStore, typeDefs as inventoryTypeDefs } from '../../subgraphs/inventory/subgraph';

const { postgres: canRun } = canRunServers();
if (!canRun) process.stderr.write('SKIPPED: store outage tests (no PostgreSQL server binaries)\n');
const describeWithServer = canRun ? describe : describe.skip;

/** What the store options are set to here; failing "fast" means well under either. */
const CONNECT_TIMEOUT_MS = 2000;
const STATEMENT_TIMEOUT_MS = 10_000;

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await run();
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

/** A FATAL ErrorResponse as a backend sends it when it is told to stop (`pg_ctl stop -m fast`, pg_terminate_backend). */
function terminatingResponse(): Buffer {
  const fields = [['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating connection due to administrator command']];
  const body = Buffer.concat([...fields.map(([type, text]) => Buffer.from(`${type}${text}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/**
 * A TCP proxy before a PostgreSQL server that, when armed, stops the next connection at the
 * moment the driver asks for the server's array types (the first thing a new connection of
 * postgres.js does): the backend says it is terminating and the connection closes, as when a
 * server stops under a pool that is just connecting. `refuseAfterCut` also stops listening, so
 * the driver's reconnect is refused, as while the server is still down.
 */
async function startCuttingProxy(target: number) {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let armed: { refuseAfterCut: boolean } | undefined;
  let cuts = 0;
  const listener = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (armed && chunk.includes('pg_catalog.pg_type')) {
        const { refuseAfterCut } = armed;
        armed = undefined;
        cuts += 1;
        upstream.unpipe(client);
        upstream.destroy();
        if (refuseAfterCut) listener.close();
        client.end(terminatingResponse());
        return;
      }
      upstream.write(chunk);
    });
  });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, '127.0.0.1', () => (listener.off('error', reject), resolve()));
    });
  await listen();
  return {
    url: (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    arm: (refuseAfterCut: boolean) => void (armed = { refuseAfterCut }),
    get cuts() {
      return cuts;
    },
    /** Whether the proxy listens (a refused reconnect closed it). */
    get listening() {
      return listener.listening;
    },
    listen,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (listener.listening) await new Promise((resolve) => listener.close(resolve));
    },
  };
}

/**
 * Runs `run`, then waits a moment: a driver fault that reaches the process's last-resort
 * handlers (an uncaught exception, a rejection nobody handles, which is reported only after
 * the microtasks of its turn) does so within the test, and Jest fails the test it happens in.
 * That is how these tests catch what would end a subgraph process: a listener of the test's
 * own on `process` hears nothing while Jest runs a test.
 */
async function settled<T>(run: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const outcome = await timed(run);
  await sleep(100);
  return { value: outcome.value, error: outcome.error };
}

describeWithServer('a PostgreSQL outage', () => {
  let server: TestPostgresServer;

  beforeAll(async () => {
    server = await startTestPostgres();
  });

  afterAll(async () => {
    await server?.destroy();
  });

  describe('under the store handle', () => {
    let database: Database;

    beforeAll(async () => {
      database = await openDatabase({
        schema: 'relay_test',
        migrationsFolder: path.join(__dirname, 'relay-migrations'),
        url: await server.createDatabase('outage_store'),
        poolSize: 8,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        statementTimeoutMs: STATEMENT_TIMEOUT_MS,
        logger: silentLogger(),
      });
    });

    afterAll(async () => {
      await database?.close();
    });

    it('survives crashes amid small writes, fails fast while down, and writes again within 2 s', async () => {
      let running = true;
      let commits = 0;
      let lastCommitAt = 0;
      const unrecognised: unknown[] = [];
      let sequence = 0;
      const failed = (error: unknown) => {
        if (!isStoreUnavailable(error)) unrecognised.push(error);
      };
      // Many small statements in flight at once, in transactions and alone: the shape that
      // makes the driver write to a socket that has just closed.
      const writer = async (n: number) => {
        while (running) {
          const id = `m-${n}-${sequence++}`;
          try {
            if (n % 2 === 0) {
              await database.db.transaction(async (tx) => {
                // outage-write-pair: two small inserts in one transaction.
                await tx.execute(sql`insert into relay_test.processed_messages (consumer, message_id) values ('tx', ${id})`);
                await tx.execute(sql`insert into relay_test.processed_messages (consumer, message_id) values ('tx2', ${id})`);
              });
            } else {
              // outage-write-single: one small insert.
              await database.rows(sql`insert into relay_test.processed_messages (consumer, message_id) values ('one', ${id})`);
            }
            commits += 1;
            lastCommitAt = Date.now();
          } catch (error) {
            failed(error);
            await sleep(5);
          }
        }
      };
      const writers = Array.from({ length: 16 }, (_, n) => writer(n));

      const rounds: { rejectMs: number; readyMs: number; resumeMs: number }[] = [];
      try {
        for (let round = 0; round < 4; round++) {
          const before = commits;
          await sleep(300);
          expect(commits).toBeGreaterThan(before);
          await server.crash();

          // While down: every request fails fast with an error that says "store unavailable".
          const attempts = await Promise.all(Array.from({ length: 6 }, () => timed(() => database.rows(sql`select 1`))));
          for (const attempt of attempts) {
            expect(attempt.error).toBeDefined();
            expect(isStoreUnavailable(attempt.error)).toBe(true);
          }
          const readiness = await timed(() => database.ready());
          expect(readiness.value).toBe(false);

          // Down for a few seconds in all, as a restart is: long enough for an unbounded backoff to grow.
          await sleep(1500);
          await server.start();
          const back = Date.now();
          while (lastCommitAt < back && Date.now() - back < 5000) await sleep(10);
          rounds.push({
            rejectMs: Math.max(...attempts.map((a) => a.ms)),
            readyMs: readiness.ms,
            resumeMs: Math.max(0, lastCommitAt - back),
          });
        }
      } finally {
        running = false;
        await Promise.all(writers);
      }

      process.stderr.write(`store outage rounds: ${JSON.stringify(rounds)}\n`);
      expect(unrecognised).toEqual([]);
      for (const { rejectMs, readyMs, resumeMs } of rounds) {
        expect(rejectMs).toBeLessThan(CONNECT_TIMEOUT_MS / 2);
        expect(readyMs).toBeLessThan(1500);
        expect(resumeMs).toBeLessThan(2000);
      }
      expect(await database.ready()).toBe(true);
    });
  });

  describe('while a connection starts', () => {
    let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;
    let database: Database | undefined;

    /** A store handle through the proxy: one connection, opened by its first query (migrations use another). */
    const openThroughProxy = async () =>
      (database = await openDatabase({
        schema: 'relay_test',
        migrationsFolder: path.join(__dirname, 'relay-migrations'),
        url: proxy.url('outage_startup'),
        poolSize: 1,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        statementTimeoutMs: STATEMENT_TIMEOUT_MS,
        logger: silentLogger(),
      }));

    beforeAll(async () => {
      await server.createDatabase('outage_startup');
      proxy = await startCuttingProxy(server.port);
    });

    afterEach(async () => {
      await database?.close();
      database = undefined;
    });

    afterAll(async () => {
      await proxy?.close();
    });

    it('reconnects and answers the waiting query when the server stops a connection that is fetching types', async () => {
      const store = await openThroughProxy();
      const cuts = proxy.cuts;
      proxy.arm(false);
      const { value, error } = await settled(() => store.rows<{ one: number }>(sql`select 1 as one`));
      expect(proxy.cuts).toBe(cuts + 1);
      expect(error).toBeUndefined();
      expect(value).toEqual([{ one: 1 }]);
    });

    it('fails the waiting query as an outage when the server is still down, and answers once it is back', async () => {
      const store = await openThroughProxy();
      const cuts = proxy.cuts;
      proxy.arm(true);
      const down = await settled(() => store.rows(sql`select 1 as one`));
      expect(proxy.cuts).toBe(cuts + 1);
      expect(proxy.listening).toBe(false);
      expect(down.error).toBeDefined();
      expect(isStoreUnavailable(down.error)).toBe(true);

      await proxy.listen();
      const back = await settled(async () => {
        for (;;) {
          try {
            return await store.rows<{ one: number }>(sql`select 1 as one`);
          } catch (error) {
            if (!isStoreUnavailable(error)) throw error;
            await sleep(20);
          }
        }
      });
      expect(back.value).toEqual([{ one: 1 }]);
    });
  });

  describe('through the inventory subgraph and the router', () => {
    let deps: TestDeps;
    let subgraph: Awaited<ReturnType<typeof startSubgraphOn>>;
    let router: RunningRouter;
    let admin: string;

    async function startSubgraphOn(d: TestDeps) {
      const store = await openInventoryStore(d);
      await store.addWarehouses([{ id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' }]);
      return serveTestSubgraph(inventorySubgraph(store), d);
    }

    beforeAll(async () => {
      const url = await server.createDatabase('outage_inventory');
      deps = await testDeps('pglite', [], {
        INVENTORY_DATABASE_URL: url,
        DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
        DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
        DB_POOL_SIZE: '4',
      });
      subgraph = await startSubgraphOn(deps);
      admin = await deps.bearer('admin-1', ['customer', 'admin']);
      const composed = composeServices([{ name: 'inventory', url: subgraph.url, typeDefs: inventoryTypeDefs }]);
      expect(composed.errors).toBeUndefined();
      router = await startRouter({
        supergraphSdl: composed.supergraphSdl!,
        subgraphUrls: { inventory: subgraph.url },
        host: '127.0.0.1',
        port: 0,
        logger: silentLogger(),
        tokens: deps.tokens,
        maxBodyBytes: 1024 * 1024,
        graceMs: 1000,
      });
    });

    afterAll(async () => {
      await router?.stop();
      await subgraph?.stop();
      await deps?.release();
    });

    const WAREHOUSES = '{ warehouses { id } }';
    const post = async (url: string) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: admin },
        body: JSON.stringify({ query: WAREHOUSES }),
      });
      return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: unknown }[] } };
    };
    const readyStatus = async () => (await fetch(subgraph.url.replace(/\/graphql$/, '/ready'))).status;

    it('answers SERVICE_UNAVAILABLE with a retry hint while the store is down, and normally after', async () => {
      expect((await post(subgraph.url)).body).toEqual({ data: { warehouses: [{ id: 'wh-1' }] } });
      expect(await readyStatus()).toBe(200);

      await server.crash();
      const direct = await timed(() => post(subgraph.url));
      expect(direct.value!.status).toBe(200);
      expect(direct.value!.body.errors).toHaveLength(1);
      const [error] = direct.value!.body.errors!;
      expect(error!.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 });
      expect(error!.message).not.toMatch(/ECONN|CONNECTION_|postgres|select|127\.0\.0\.1/i);
      expect(direct.ms).toBeLessThan(CONNECT_TIMEOUT_MS / 2);

      // The router passes the code and the hint on unchanged.
      const routed = await post(router.url);
      expect(routed.status).toBe(200);
      expect(routed.body.errors?.map((e) => e.extensions)).toEqual([{ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 }]);

      const probe = await timed(readyStatus);
      expect(probe.value).toBe(503);
      expect(probe.ms).toBeLessThan(1500);

      await server.start();
      const back = Date.now();
      let answer = await post(router.url);
      while (answer.body.errors && Date.now() - back < 5000) {
        await sleep(20);
        answer = await post(router.url);
      }
      expect(answer.body).toEqual({ data: { warehouses: [{ id: 'wh-1' }] }, extensions: { cost: expect.any(Object) } });
      expect(Date.now() - back).toBeLessThan(2000);
      expect(await readyStatus()).toBe(200);
    });
  });
});
