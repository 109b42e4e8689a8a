import net from 'node:net';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../db';
import { silentLogger } from '../logger';
import { createTestDatabase, sleep, storeBackends } from '../testing';

const migrationsFolder = path.join(__dirname, 'relay-migrations');

const runOnServer = storeBackends().includes('postgres') ? describe : describe.skip;

runOnServer('transactions on a PostgreSQL server', () => {
  let server: { url: string; drop(): Promise<void> };
  const open: Database[] = [];
  const database = async (poolSize: number) => {
    const opened = await openDatabase({ schema: 'relay_test', migrationsFolder, url: server.url, poolSize, logger: silentLogger() });
    open.push(opened);
    await opened.db.execute(sql`create table if not exists public.tx_probe (n int primary key)`);
    await opened.db.execute(sql`truncate public.tx_probe`);
    return opened;
  };
  const probeRows = async (store: Database) =>
    (await store.rows<{ n: number }>(sql`select n from public.tx_probe order by n`)).map((row) => row.n);

  /** Socket writes of this process while `run` runs: each is one message on its way to the server. */
  const writesDuring = async (run: () => Promise<unknown>): Promise<number> => {
    const write = net.Socket.prototype.write;
    let writes = 0;
    net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<typeof write>) {
      writes += 1;
      return write.apply(this, args);
    } as typeof write;
    try {
      await run();
    } finally {
      net.Socket.prototype.write = write;
    }
    return writes;
  };

  beforeAll(async () => {
    server = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });
  afterAll(async () => {
    await server?.drop();
  });

  it('send BEGIN with their first statement: two statements cost three writes, not four', async () => {
    const store = await database(1);
    const twoStatements = (n: number) =>
      store.db.transaction(async (tx) => {
        await tx.execute(sql`insert into public.tx_probe (n) values (${n})`);
        await tx.execute(sql`select n from public.tx_probe where n = ${n}`);
      });
    // The first run prepares both statements; what a transaction costs is the second's.
    await twoStatements(1);
    expect(await writesDuring(() => twoStatements(2))).toBe(3);
    expect(await probeRows(store)).toEqual([1, 2]);
  });

  it('roll back when the first statement fails, and leave the connection ready for the next', async () => {
    const store = await database(1);
    await store.db.execute(sql`insert into public.tx_probe (n) values (1)`);
    await expect(
      store.db.transaction(async (tx) => {
        await tx.execute(sql`insert into public.tx_probe (n) values (1)`);
      }),
    ).rejects.toThrow();
    await expect(
      store.db.transaction(async (tx) => {
        await tx.execute(sql`insert into public.tx_probe (n) values (2)`);
        await tx.execute(sql`insert into public.tx_probe (n) values (1)`);
      }),
    ).rejects.toThrow();
    await store.db.transaction(async (tx) => {
      await tx.execute(sql`insert into public.tx_probe (n) values (3)`);
    });
    expect(await probeRows(store)).toEqual([1, 3]);
  });

  it('keep statements in order when a transaction sends several at once or waits before its first', async () => {
    const store = await database(2);
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        store.db.transaction(async (tx) => {
          if (i % 3 === 0) await sleep(5);
          if (i % 2 === 0) {
            await Promise.all([
              tx.execute(sql`insert into public.tx_probe (n) values (${i * 10})`),
              tx.execute(sql`insert into public.tx_probe (n) values (${i * 10 + 1})`),
            ]);
          } else {
            await tx.execute(sql`insert into public.tx_probe (n) values (${i * 10})`);
          }
          await tx.transaction(async (nested) => {
            await nested.execute(sql`insert into public.tx_probe (n) values (${i * 10 + 2})`);
          });
          const own = (await tx.execute(sql`select count(*)::int as count from public.tx_probe where n / 10 = ${i}`)) as unknown as { count: number }[];
          expect(own[0]!.count).toBe(i % 2 === 0 ? 3 : 2);
        }),
      ),
    );
    expect(await probeRows(store)).toHaveLength(12 * 3 + 12 * 2);
  });
});
