import fs from 'node:fs';
import path from 'node:path';
import { composeSupergraph, SUPERGRAPH_FILE } from '../compose';
import { generateResolverTypes } from '../../codegen';

const ROOT = path.resolve(__dirname, '../..');

describe('committed generated files', () => {
  it('schema/supergraph.graphql is the composition of the subgraph schemas (run `npm run compose`)', () => {
    expect(fs.readFileSync(SUPERGRAPH_FILE, 'utf8')).toBe(composeSupergraph());
  });

  it('every subgraph’s generated resolver types match its schema (run `npm run codegen`)', async () => {
    const outputs = await generateResolverTypes();
    expect(outputs.size).toBeGreaterThanOrEqual(6);
    for (const [file, content] of outputs) {
      const committed = path.join(ROOT, file);
      expect({ file, upToDate: fs.existsSync(committed) && fs.readFileSync(committed, 'utf8') === content }).toEqual({
        file,
        upToDate: true,
      });
    }
  });
});
