/** The PostgreSQL server tests and benchmarks start for themselves, with settings of their own. */
import postgres from 'postgres';
import { canRunServers, startTestPostgres } from '../test-servers';

const { postgres: canRun } = canRunServers();
if (!canRun) process.stderr.write('SKIPPED: test PostgreSQL server settings (no PostgreSQL server binaries)\n');
const describeWithServer = canRun ? describe : describe.skip;

describeWithServer('startTestPostgres', () => {
  it('starts the server with the settings it is given', async () => {
    const server = await startTestPostgres({ work_mem: '3MB', 'pg_stat_statements.track': 'top', shared_preload_libraries: 'pg_stat_statements' });
    const sql = postgres(server.url, { max: 1, onnotice: () => {} });
    try {
      const [memory] = await sql<{ work_mem: string }[]>`show work_mem`;
      const [loaded] = await sql<{ shared_preload_libraries: string }[]>`show shared_preload_libraries`;
      expect(memory?.work_mem).toBe('3MB');
      expect(loaded?.shared_preload_libraries).toBe('pg_stat_statements');
      await sql`create extension if not exists pg_stat_statements`;
      await sql`select pg_stat_statements_reset()`;
      await sql`select 1 as counted`;
      const [counted] = await sql<{ calls: number }[]>`
        select calls::int as calls from pg_stat_statements where query like 'select $1 as counted%'`;
      expect(counted?.calls).toBe(1);
    } finally {
      await sql.end({ timeout: 5 });
      await server.destroy();
    }
  });

  it('refuses a setting it cannot pass on whole, before starting anything', async () => {
    await expect(startTestPostgres({ work_mem: '3MB -c fsync=on' })).rejects.toThrow('must be plain words');
    await expect(startTestPostgres({ "work_mem='3MB'": 'x' })).rejects.toThrow('must be plain words');
  });
});
