/**
 * `npm run db:generate`: writes drizzle-kit migrations for every subgraph whose store
 * has a drizzle schema (`subgraphs/<name>/store/schema.ts` → `store/migrations/`).
 * Schema and migrations are written once and run on PGlite and PostgreSQL alike.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SUBGRAPHS } from '../schema/subgraphs';

const root = path.resolve(__dirname, '..');
for (const { name } of SUBGRAPHS) {
  const store = path.join('subgraphs', name, 'store');
  if (!fs.existsSync(path.join(root, store, 'schema.ts'))) continue;
  process.stdout.write(`${name}:\n`);
  execFileSync(
    'npx',
    ['drizzle-kit', 'generate', '--dialect=postgresql', `--schema=${store}/schema.ts`, `--out=${store}/migrations`],
    { cwd: root, stdio: 'inherit' },
  );
}
