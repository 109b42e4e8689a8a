import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { composeSupergraphFiles } from '../compose';

const ROOT = path.resolve(__dirname, '../..');

describe('committed generated files', () => {
  it('the committed supergraphs and partner contract are the composition of the subgraph schemas (run `npm run compose`)', () => {
    const files = composeSupergraphFiles();
    expect([...files.keys()].map((file) => path.relative(ROOT, file))).toEqual([
      'schema/supergraph.graphql',
      'schema/supergraph.compose.graphql',
      'schema/partner.graphql',
    ]);
    for (const [file, sdl] of files) {
      expect({ file, upToDate: fs.existsSync(file) && fs.readFileSync(file, 'utf8') === sdl }).toEqual({ file, upToDate: true });
    }
  });

  it('every subgraph’s generated resolver types match its schema (run `npm run codegen`)', () => {
    // The code generator's plugins are ES modules, so it runs in a process of its own.
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'codegen.ts', '--check'], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      encoding: 'utf8',
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
