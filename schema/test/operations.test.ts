import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { CostCalculator } from '../../router/cost';
import { DEFAULT_OPERATION_LIMITS, limitExceeded, measureOperation } from '../../router/operation-limits';
import { loadConfig } from '../../platform/config';
import { SUPERGRAPH_FILE } from '../compose';
import { documentId } from '../manifest';
import { buildManifest, manifestText, MANIFEST_FILE } from '../operations';

describe('the trusted documents of the apps (schema/operations/)', () => {
  const committed = fs.readFileSync(MANIFEST_FILE, 'utf8');
  const manifest = JSON.parse(committed) as ReturnType<typeof buildManifest>;

  it('every document validates and the committed manifest is up to date (run `npm run operations`)', () => {
    expect({ file: MANIFEST_FILE, upToDate: manifestText(buildManifest()) === committed }).toEqual({ file: MANIFEST_FILE, upToDate: true });
  });

  it('names every operation, ids each by the SHA-256 of its body, and holds what the mobile app needs', () => {
    expect(manifest.format).toBe('apollo-persisted-query-manifest');
    expect(manifest.version).toBe(1);
    for (const op of manifest.operations) expect(op.id).toBe(documentId(op.body));
    expect(manifest.operations.map((op) => `${op.type} ${op.name}`)).toEqual(
      expect.arrayContaining([
        'query Home',
        'query SearchProducts',
        'query ProductPage',
        'mutation AddToCart',
        'mutation UpdateCartLine',
        'mutation PlaceOrder',
        'query OrderHistory',
        'query Order',
        'subscription OrderTracking',
        'mutation Login',
        'mutation RefreshSession',
        'mutation Logout',
      ]),
    );
  });

  it('every operation costs well under the router’s limit and stays within its operation limits', () => {
    const { MAX_OPERATION_COST } = loadConfig({});
    const cost = new CostCalculator(fs.readFileSync(SUPERGRAPH_FILE, 'utf8'));
    for (const op of manifest.operations) {
      const document = parse(op.body);
      // Priced with the variables' defaults, as the app sends them.
      const estimated = cost.estimated(document, {}, op.name);
      expect({ name: op.name, estimated, under: estimated <= MAX_OPERATION_COST / 4 }).toEqual({ name: op.name, estimated, under: true });
      const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
      expect({ name: op.name, refusal: limitExceeded(measureOperation(document, operation), DEFAULT_OPERATION_LIMITS)?.message ?? null }).toEqual({
        name: op.name,
        refusal: null,
      });
    }
  });

  it('refuses an operation that no longer matches the graph, naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'operations-'));
    fs.mkdirSync(path.join(dir, 'mobile'));
    fs.writeFileSync(path.join(dir, 'mobile', 'gone.graphql'), 'query Gone { product(id: "1") { colour } }');
    fs.writeFileSync(path.join(dir, 'mobile', 'anonymous.graphql'), '{ categories { id } }');
    expect(() => buildManifest(undefined, dir)).toThrow(/anonymous\.graphql: the operation needs a name[\s\S]*gone\.graphql: Cannot query field "colour"/);
  });
});
