/**
 * Federation conformance: every case of cases.ts runs through stock `@apollo/gateway` under
 * stock `@apollo/server` and through the router, over the same five library subgraphs
 * (library.ts) served on real HTTP. The answers must agree: the same HTTP status; the same
 * `data`, keys in the same order (responses are ordered as the operation is); the same errors
 * by path, message and code once the router's intentional differences (NORMALISATIONS) are
 * applied to stock's. Errors are compared as a set: the spec gives them no order, and fetches
 * that run in parallel finish in any. Where stock departs from the spec, the case records
 * stock's answer and the router must give the spec's.
 *
 * Not compared: top-level `extensions` (the router adds `cost`; stock's `valueCompletion` is
 * dealt with by the cases that meet it) and error extensions other than `code` (stock's
 * `serviceName`, `stacktrace` and `response` are internals the router must never send: checked
 * on every answer of the router instead).
 */
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner, type PlanNode, type QueryPlanSelectionNode, type SubscriptionNode } from '@apollo/query-planner';
import { Kind, parse, type ObjectTypeDefinitionNode, type InterfaceTypeDefinitionNode } from 'graphql';
import { isErrorCode } from '../../../platform/errors';
import { CASES, PLAN_FEATURES, type ConformanceCase, type Expected, type PlanFeature } from './cases';
import { startHarness, type Answer, type ComparedError, type Harness } from './harness';
import type { SubgraphName } from './library';

type StockError = NonNullable<Answer['body']['errors']>[number];

/** What the suite knows when it normalises a stock error: the subgraphs by URL. */
interface NormalisationContext {
  subgraphsByUrl: Map<string, SubgraphName>;
}

interface Normalisation {
  /** The difference, and why the router answers differently. */
  why: string;
  /** The router's error for stock's `error`, or undefined when this difference does not apply. */
  apply(error: ComparedError & { extensions?: Record<string, unknown> }, context: NormalisationContext): ComparedError | undefined;
}

/** The subgraph whose URL a stock error names: its HTTP client's message, or the failed response. */
function unreachableSubgraph(error: { message: string; path?: unknown; extensions?: Record<string, unknown> }, context: NormalisationContext): SubgraphName | undefined {
  if (error.path) return undefined;
  const response = error.extensions?.response as { url?: unknown } | undefined;
  if (typeof response?.url === 'string') return context.subgraphsByUrl.get(response.url);
  for (const [url, name] of context.subgraphsByUrl) if (error.message.includes(url)) return name;
  return undefined;
}

/**
 * The router's intentional differences from stock Apollo, applied in order to each of stock's
 * errors (the first that applies wins) to get the error the router must answer. Any other
 * difference fails the case.
 */
const NORMALISATIONS: Normalisation[] = [
  {
    why:
      'A subgraph that could not be fetched (connection refused or reset, an HTTP error status, a body that is not JSON): stock passes on ' +
      'its HTTP client’s message, which names the subgraph’s URL ("request to http://… failed, reason: …", "500: Internal Server Error" ' +
      'with the body in `extensions.response`, "invalid json response body at http://…"), coded INTERNAL_SERVER_ERROR. The router answers ' +
      'the registry’s SUBGRAPH_UNAVAILABLE and names the domain, not its address.',
    apply: (error, context) => {
      const subgraph = unreachableSubgraph(error, context);
      return subgraph ? { message: `The ${subgraph} service is unavailable.`, code: 'SUBGRAPH_UNAVAILABLE' } : undefined;
    },
  },
  {
    why:
      'An error whose code is not in the registry (platform/errors.ts) or is INTERNAL_SERVER_ERROR: stock passes on the subgraph’s message ' +
      'with its code (DOWNSTREAM_SERVICE_ERROR when the subgraph sent none, INVALID_GRAPHQL for value completion). The router masks it as ' +
      '"Internal server error", INTERNAL_SERVER_ERROR, and logs it whole: unknown failures may carry internals.',
    apply: (error) =>
      !isErrorCode(error.code) || error.code === 'INTERNAL_SERVER_ERROR'
        ? { message: 'Internal server error', ...(error.path ? { path: error.path } : {}), code: 'INTERNAL_SERVER_ERROR' }
        : undefined,
  },
];

/** Extensions the router never sends: internals of the subgraphs and of the process. */
const INTERNAL_EXTENSIONS = ['stacktrace', 'exception', 'serviceName', 'response'];

/** An error as compared: message, path and code only. */
function compared(error: StockError): ComparedError {
  const code = error.extensions?.code;
  return { message: error.message, ...(error.path ? { path: error.path } : {}), ...(typeof code === 'string' ? { code } : {}) };
}

/** The error the router must answer for one of stock's (or for the spec's, stated in stock's terms). */
function normalised(error: ComparedError & { extensions?: Record<string, unknown> }, context: NormalisationContext): ComparedError {
  for (const normalisation of NORMALISATIONS) {
    const result = normalisation.apply(error, context);
    if (result) return result;
  }
  return { message: error.message, ...(error.path ? { path: error.path } : {}), ...(error.code ? { code: error.code } : {}) };
}

/** What the router must answer where stock answers right: stock's data, stock's errors normalised. */
function stockExpected(stock: Answer, context: NormalisationContext): Required<Pick<Expected, 'errors'>> & Pick<Expected, 'data'> {
  return {
    data: stock.body.data,
    errors: (stock.body.errors ?? []).map((error) => normalised({ ...compared(error), extensions: error.extensions ?? {} }, context)),
  };
}

/** Errors in a stable order, for comparing as a set. */
function asSet(errors: ComparedError[]): ComparedError[] {
  return [...errors].sort((a, b) => JSON.stringify([a.path, a.message, a.code]).localeCompare(JSON.stringify([b.path, b.message, b.code])));
}

/** The router's answer carries no internals, and every error a code of the registry. */
function expectNothingInternal(ours: Answer): void {
  for (const error of ours.body.errors ?? []) {
    expect(Object.keys(error.extensions ?? {}).filter((key) => INTERNAL_EXTENSIONS.includes(key))).toEqual([]);
    const code = error.extensions?.code;
    if (!isErrorCode(code)) throw new Error(`the router answered a code outside the registry: ${String(code)} (${error.message})`);
  }
}

/** `ours` answers `expected`: data deep-equal and in the same key order, errors as a set. */
function expectAnswer(ours: Answer, status: number, expected: Required<Pick<Expected, 'errors'>> & Pick<Expected, 'data'>): void {
  expect(ours.status).toBe(status);
  expect(ours.body.data).toEqual(expected.data);
  // toEqual ignores key order; the serialised text does not.
  expect(JSON.stringify(ours.body.data)).toBe(JSON.stringify(expected.data));
  expect(asSet((ours.body.errors ?? []).map(compared))).toEqual(asSet(expected.errors));
  expectNothingInternal(ours);
}

/** The top-level field names of every key of every entity type, by type. */
function keyFieldsByType(supergraphSdl: string): Map<string, Set<string>> {
  const keys = new Map<string, Set<string>>();
  for (const definition of parse(supergraphSdl).definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    const type = definition as ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode;
    const fields = keys.get(type.name.value) ?? new Set<string>();
    for (const directive of type.directives ?? []) {
      const key = directive.arguments?.find((a) => a.name.value === 'key')?.value;
      if (directive.name.value !== 'join__type' || key?.kind !== Kind.STRING) continue;
      const selection = parse(`{ ${key.value} }`).definitions[0];
      if (selection?.kind !== Kind.OPERATION_DEFINITION) continue;
      for (const field of selection.selectionSet.selections) if (field.kind === Kind.FIELD) fields.add(field.name.value);
    }
    keys.set(type.name.value, fields);
  }
  return keys;
}

/** The plan node kinds and fetch features in `node`, and how many fetches it makes. */
function planFeatures(node: PlanNode | SubscriptionNode | undefined, keys: Map<string, Set<string>>): { features: Set<PlanFeature>; fetches: number } {
  const features = new Set<PlanFeature>();
  let fetches = 0;
  const requiresNonKey = (selections: QueryPlanSelectionNode[]) =>
    selections.some(
      (s) =>
        s.kind === 'InlineFragment' &&
        s.selections.some((f) => f.kind === 'Field' && f.name !== '__typename' && !keys.get(s.typeCondition ?? '')?.has(f.name)),
    );
  const visit = (n: PlanNode | SubscriptionNode | undefined): void => {
    if (!n) return;
    switch (n.kind) {
      case 'Sequence':
      case 'Parallel':
        features.add(n.kind);
        n.nodes.forEach(visit);
        break;
      case 'Flatten': {
        features.add('Flatten');
        const path = n.path.join('.');
        if (path.includes('@.@')) features.add('Flatten through a list of lists');
        visit(n.node);
        break;
      }
      case 'Condition':
        features.add('Condition');
        visit(n.ifClause);
        visit(n.elseClause);
        break;
      case 'Fetch':
        fetches += 1;
        if (n.requires) features.add('entity fetch');
        if (n.requires && requiresNonKey(n.requires)) features.add('@requires');
        if (n.inputRewrites?.length) features.add('inputRewrites');
        if (n.outputRewrites?.length) features.add('outputRewrites');
        break;
      default:
        throw new Error(`a ${n.kind} node: the suite runs no such operation`);
    }
  };
  visit(node);
  return { features, fetches };
}

describe('federation conformance: the router answers as stock Apollo Gateway does', () => {
  let harness: Harness;
  let context: NormalisationContext;

  beforeAll(async () => {
    harness = await startHarness();
    context = { subgraphsByUrl: new Map([...harness.subgraphs].map(([name, server]) => [server.url, name])) };
  });

  afterAll(async () => {
    await harness?.stop();
  });

  const both = async (c: ConformanceCase): Promise<{ stock: Answer; ours: Answer }> => ({
    stock: await harness.send(harness.stockUrl, c, c.faults),
    ours: await harness.send(harness.routerUrl, c, c.faults),
  });

  for (const c of CASES) {
    const deviation = c.deviation;
    if (!deviation) {
      it(c.name, async () => {
        const { stock, ours } = await both(c);
        c.shows?.(stock.body);
        expectAnswer(ours, stock.status, stockExpected(stock, context));
      });
      continue;
    }
    it(`${c.name} — stock answers against the spec, as recorded`, async () => {
      const stock = await harness.send(harness.stockUrl, c, c.faults);
      expect(JSON.stringify(stock.body.data)).toBe(JSON.stringify(deviation.stock.data));
      expect(asSet((stock.body.errors ?? []).map(compared))).toEqual(asSet(deviation.stock.errors ?? []));
      const completion = (stock.body.extensions?.valueCompletion ?? []) as StockError[];
      expect(completion.map(compared)).toEqual(deviation.stock.valueCompletion ?? []);
    });
    // A pending deviation is a known failure: jest says so once the router follows the spec, and it becomes a plain check.
    (deviation.pending ? it.failing : it)(`${c.name} — the router answers per the spec`, async () => {
      const { stock, ours } = await both(c);
      expectAnswer(ours, stock.status, {
        data: 'data' in deviation.spec ? deviation.spec.data : deviation.stock.data,
        errors: (deviation.spec.errors ?? []).map((error) => normalised(error, context)),
      });
    });
    if (deviation.pending) {
      // Until then the router must differ from stock in nothing else.
      it(`${c.name} — until then the router answers as stock does (${deviation.pending})`, async () => {
        const { stock, ours } = await both(c);
        expectAnswer(ours, stock.status, stockExpected(stock, context));
      });
    }
  }

  describe('the cases’ query plans', () => {
    let supergraph: Supergraph;
    let planner: QueryPlanner;
    let keys: Map<string, Set<string>>;
    const planOf = (c: ConformanceCase) =>
      planFeatures(
        planner.buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(c.query), c.operationName ? { operationName: c.operationName } : {})).node,
        keys,
      );

    beforeAll(() => {
      supergraph = Supergraph.build(harness.supergraphSdl);
      planner = new QueryPlanner(supergraph);
      keys = keyFieldsByType(harness.supergraphSdl);
    });

    for (const c of CASES.filter((c) => c.plan || c.fetches !== undefined)) {
      it(`contain what the case is there for: ${c.name}`, () => {
        const { features, fetches } = planOf(c);
        expect(PLAN_FEATURES.filter((f) => c.plan?.includes(f) && !features.has(f))).toEqual([]);
        if (c.fetches !== undefined) expect(fetches).toBe(c.fetches);
      });
    }

    it('reach every kind of plan node between them', () => {
      const reached = new Set(CASES.flatMap((c) => c.plan ?? []));
      expect(PLAN_FEATURES.filter((f) => !reached.has(f))).toEqual([]);
    });
  });
});
