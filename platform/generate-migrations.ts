/**
 * `npm run db:generate`: writes drizzle-kit migrations for every subgraph whose store
 * has a drizzle schema (`subgraphs/<name>/store/schema.ts` → `store/migrations/`), and
 * for the simulated card processor's ledger.
 * Schema and migrations are written once and run on PGlite and PostgreSQL alike.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SUBGRAPHS } from '../schema/subgraphs';

const root = path.resolve(__dirname, '..');
/** Stores that are not a subgraph's own: the simulated card processor keeps its ledger apart from payment's. */
const OTHER_STORES = [path.join('subgraphs', 'payment', 'provider', 'simulated-ledger')];

for (const store of [...SUBGRAPHS.map(({ name }) => path.join('subgraphs', name, 'store')), ...OTHER_STORES]) {
  if (!fs.existsSync(path.join(root, store, 'schema.ts'))) continue;
  process.stdout.write(`${store}:\n`);
  execFileSync(
    'npx',
    ['drizzle-kit', 'generate', '--dialect=postgresql', `--schema=${store}/schema.ts`, `--out=${store}/migrations`],
    { cwd: root, stdio: 'inherit' },
  );
}
