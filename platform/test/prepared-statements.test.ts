import net from 'node:net';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { MAX_PREPARED_TEXTS, openDatabase, type Database } from '../db';
import { silentLogger } from '../logger';
import { createTestDatabase, describeOnServer, sleep } from '../testing';

const migrationsFolder = path.join(__dirname, 'relay-migrations');

/** Statements prepared by name on the connection that runs this (pool of one: the only connection). */
async function preparedTexts(database: Database): Promise<string[]> {
  const rows = await database.rows<{ statement: string }>(sql`select statement from pg_prepared_statements`);
  return rows.map((row) => row.statement);
}

describeOnServer('statements on a PostgreSQL server', () => {
  let server: { url: string; drop(): Promise<void> };
  const open: Database[] = [];
  const database = async (preparedStatements?: boolean, poolSize = 1) => {
    const opened = await openDatabase({
      schema: 'relay_test',
      migrationsFolder,
      url: server.url,
      poolSize,
      logger: silentLogger(),
      ...(preparedStatements === undefined ? {} : { preparedStatements }),
    });
    open.push(opened);
    return opened;
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

  it('are prepared by name once per connection, also inside transactions and savepoints', async () => {
    const store = await database();
    for (let i = 0; i < 3; i++) {
      expect(await store.rows<{ n: number }>(sql`select ${i}::int as n -- prepared-probe`)).toEqual([{ n: i }]);
    }
    await store.db.transaction(async (tx) => {
      await tx.execute(sql`select ${1}::int as n -- prepared-probe-tx`);
      await tx.transaction(async (nested) => {
        await nested.execute(sql`select ${1}::int as n -- prepared-probe-savepoint`);
      });
    });
    const texts = await preparedTexts(store);
    expect(texts.filter((t) => t.endsWith('-- prepared-probe'))).toHaveLength(1);
    expect(texts.some((t) => t.includes('-- prepared-probe-tx'))).toBe(true);
    expect(texts.some((t) => t.includes('-- prepared-probe-savepoint'))).toBe(true);
  });

  it('are sent unnamed when DB_PREPARED_STATEMENTS is off', async () => {
    const store = await database(false);
    await store.rows(sql`select ${1}::int as n -- unprepared-probe`);
    expect((await preparedTexts(store)).some((t) => t.includes('-- unprepared-probe'))).toBe(false);
  });

  it('send unnamed a statement whose text grows with a list, which would make a text per length', async () => {
    const store = await database();
    const ids = ['a', 'b', 'c'];
    await store.rows(sql`select ${1}::int as n where 'a' in (${sql.join(ids.map((id) => sql`${id}`), sql`, `)}) -- in-list-probe`);
    await store.rows(sql`select * from (values (${1}::int), (${2}::int)) as v(n) -- rows-probe`);
    await store.rows(sql`select ${1}::int as n where 'a' in (${'a'}) -- one-element-probe`);
    const texts = await preparedTexts(store);
    expect(texts.some((t) => t.includes('in-list-probe'))).toBe(false);
    expect(texts.some((t) => t.includes('rows-probe'))).toBe(false);
    expect(texts.some((t) => t.includes('one-element-probe'))).toBe(true);
  });

  it(`name at most ${MAX_PREPARED_TEXTS} distinct texts per pool, and run the rest unnamed`, async () => {
    const store = await database();
    for (let i = 0; i <= MAX_PREPARED_TEXTS; i++) {
      expect(await store.rows<{ n: number }>(sql`select ${i}::int as n -- ${sql.raw(`prepared-many-${i}`)}`)).toEqual([{ n: i }]);
    }
    const texts = (await preparedTexts(store)).filter((t) => t.includes('prepared-many-'));
    expect(texts.length).toBeLessThanOrEqual(MAX_PREPARED_TEXTS);
    expect(texts.some((t) => t.includes('prepared-many-0'))).toBe(true);
    expect(texts.some((t) => t.includes(`prepared-many-${MAX_PREPARED_TEXTS}`))).toBe(false);
  }, 60_000);

  it('answer the statement after one that failed partway through its rows with exactly its own rows', async () => {
    const store = await database();
    // Fails on its second row, after the first reached the client.
    const rowsUpTo = (failAt: number) => store.rows<{ n: number }>(sql`select g as n, 10 / (g - ${failAt}::int) as q from generate_series(1, 3) as g -- partial-probe`);
    await expect(rowsUpTo(2)).rejects.toThrow();
    const after = await rowsUpTo(9);
    expect(after).toHaveLength(3);
    expect([...after].map((row) => row.n)).toEqual([1, 2, 3]);
  });

  describe('transactions', () => {
    const probeDatabase = async (poolSize = 1) => {
      const opened = await database(undefined, poolSize);
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

    it('send BEGIN with their first statement: two statements cost three writes, not four', async () => {
      const store = await probeDatabase();
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
      const store = await probeDatabase();
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
      const store = await probeDatabase(2);
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
});
