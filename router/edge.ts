/**
 * The guard step of the router's pipeline (see ARCHITECTURE.md, "The router"): after Apollo
 * Server has parsed and validated an operation and before the gateway plans it, the
 * operation is measured against the limits, stripped of the fields the caller may not
 * see, and priced; a refusal costs no subgraph request. After execution the removed
 * fields come back as nulls with their errors, and the response carries its cost.
 * Work that depends only on the operation text and the caller's rights is cached.
 */
import { createHash } from 'node:crypto';
import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Viewer } from '../platform/auth';
import { ShopError } from '../platform/errors';
import { AuthPolicy, filterOperation, restoreRemoved, type Caller, type FilteredOperation } from './auth-filter';
import type { RouterContext } from './context';
import { CostError, costKey } from './cost';
import type { BucketLimit, CostBudget, Take, ThrottleStatus } from './rate-limit';
import { limitExceeded, measureOperation, tokenLimitExceeded, type OperationLimits } from './operation-limits';
import { tokenCount } from './tokens';

/**
 * Prices operations: before execution from the operation, after it from the response. An
 * estimate may depend on the variables only through their `costKey`: the edge keeps one per
 * operation and key.
 */
export interface QueryCost {
  estimated(document: DocumentNode, variables: Record<string, unknown>, operationName: string | null): number;
  actual(document: DocumentNode, variables: Record<string, unknown>, operationName: string | null, data: unknown): number;
}

export interface EdgeOptions {
  supergraphSdl: string;
  limits: OperationLimits;
  /** Largest estimated cost an operation may have; default 5000. */
  maxCost: number;
  cost: QueryCost;
  /** Operations whose guard work is kept; default 1000. */
  cacheSize?: number;
  /**
   * Cost buckets of partner keys: an operation of a caller with a partner key
   * (`RouterContext.partner`) takes its requested cost before it is planned, or is refused
   * with THROTTLED, and gets back what its actual cost left unused. Default none.
   */
  budget?: CostBudget;
  /** Told every response's cost once it is final (metrics); default nothing. */
  onCost?: (context: RouterContext, cost: CostReport) => void;
}

/** The guard's work on one operation text for one kind of caller, kept between requests. */
export interface Prepared {
  refusal: GraphQLError | null;
  filtered: FilteredOperation;
  /** The plan cache key of the filtered operation. */
  queryHash: string;
}

/** What the guard looks at in one request. */
export interface GuardInput {
  document: DocumentNode;
  operation: OperationDefinitionNode | undefined;
  /** Hash of the operation text: the cache key of the work on it. */
  queryHash: string;
  operationName: string | null;
  schema: GraphQLSchema;
  viewer: Viewer;
  variables: Record<string, unknown>;
}

/** Who the caller is, as far as the guard goes. */
export function callerOf(viewer: Viewer): Caller {
  return viewer.kind === 'customer' ? { authenticated: true, scopes: viewer.scopes } : { authenticated: false, scopes: [] };
}

/** The cost the response reports, as `extensions.cost`. */
export interface CostReport {
  requestedQueryCost: number;
  actualQueryCost?: number;
  /** The partner key's bucket after this operation (partner endpoint only). */
  throttleStatus?: ThrottleStatus;
}

/** Attached to a refused document's error so the formatter can say how many tokens it had. */
const tokenCounts = new WeakMap<object, number>();

/** The parser's message for a document over `maxTokens` (graphql-js aborts parsing there). */
// graphql-js 16 words it "more that N tokens"; later versions may correct it.
const TOKEN_LIMIT_MESSAGE = /Document contains more tha[nt] (\d+) tokens/;

/**
 * Maps the parser's refusal of a document over the token limit onto MAX_TOKENS_LIMIT, with
 * the limit and the tokens counted. Other errors pass unchanged. For the router's formatError.
 */
export function tokenLimitError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError | null {
  const match = TOKEN_LIMIT_MESSAGE.exec(formatted.message);
  if (!match || formatted.extensions?.code !== 'GRAPHQL_PARSE_FAILED') return null;
  const limit = Number(match[1]);
  const counted = error && typeof error === 'object' ? tokenCounts.get(error) : undefined;
  const measured = counted ?? limit + 1;
  const refusal = tokenLimitExceeded(limit, measured);
  return { message: refusal.message, extensions: { code: refusal.code, limit, measured } };
}

/**
 * The refusal of an operation its partner's bucket cannot pay for now: THROTTLED (429) with
 * when to retry, or, when even a full bucket could not, COST_ESTIMATED_TOO_EXPENSIVE.
 */
function throttled(limit: BucketLimit, requestedQueryCost: number, take: Take & { taken: false }): ShopError {
  if (requestedQueryCost > limit.maximumAvailable) {
    return new ShopError(
      'COST_ESTIMATED_TOO_EXPENSIVE',
      `The operation is estimated to cost ${requestedQueryCost}; this API key allows at most ${limit.maximumAvailable}.`,
      { requestedQueryCost, maxCost: limit.maximumAvailable, http: { status: 400 } },
    );
  }
  return new ShopError(
    'THROTTLED',
    `The operation is estimated to cost ${requestedQueryCost}; this API key has ${take.status.currentlyAvailable} available. Retry after ${take.retryAfterSeconds} s.`,
    {
      retryAfterSeconds: take.retryAfterSeconds,
      http: { status: 429, headers: new HeaderMap([['retry-after', String(take.retryAfterSeconds)]]) },
    },
  );
}

export class Edge {
  private readonly policy: AuthPolicy;
  private readonly prepared: LRUCache<string, Prepared>;
  private readonly costs: LRUCache<string, number>;

  constructor(private readonly options: EdgeOptions) {
    this.policy = new AuthPolicy(options.supergraphSdl);
    this.prepared = new LRUCache({ max: options.cacheSize ?? 1000 });
    this.costs = new LRUCache({ max: (options.cacheSize ?? 1000) * 4 });
  }

  /** The Apollo Server plugin that runs the guard for every operation. */
  plugin(): ApolloServerPlugin<RouterContext> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const edge = this;
    return {
      async requestDidStart() {
        let prepared: Prepared | undefined;
        let cost: CostReport | undefined;
        /** The partner key whose bucket this operation took its cost from. */
        let spent: BucketLimit | undefined;
        return {
          async didEncounterErrors({ errors, source }) {
            // A document the parser gave up on: count its tokens without building anything.
            for (const error of errors) {
              if (source && TOKEN_LIMIT_MESSAGE.test(error.message)) tokenCounts.set(error, tokenCount(source));
            }
          },
          async didResolveOperation(requestContext) {
            const checked = edge.check({
              document: requestContext.document,
              operation: requestContext.operation,
              queryHash: requestContext.queryHash,
              operationName: requestContext.operationName,
              schema: requestContext.schema,
              viewer: requestContext.contextValue.viewer,
              variables: requestContext.request.variables ?? {},
            });
            prepared = checked.prepared;
            cost = { requestedQueryCost: checked.requestedQueryCost };
            const partner = requestContext.contextValue.partner;
            if (edge.options.budget && partner) {
              const take = await edge.options.budget.take(partner, checked.requestedQueryCost);
              cost.throttleStatus = take.status;
              if (!take.taken) throw throttled(partner, checked.requestedQueryCost, take);
              spent = partner;
            }
            if (checked.prepared.filtered.removed) {
              // The gateway plans `document` under `queryHash`: the filtered shape gets a plan of its own.
              const writable = requestContext as unknown as { document: DocumentNode; queryHash: string };
              writable.document = checked.prepared.filtered.document;
              writable.queryHash = checked.prepared.queryHash;
            }
          },
          async responseForOperation() {
            // Every root field was removed: nothing to ask any subgraph; the nulls are put in below.
            if (!prepared?.filtered.nothingLeft) return null;
            return { http: { status: undefined, headers: new Map() } as never, body: { kind: 'single', singleResult: { data: {} } } };
          },
          async willSendResponse({ response, request, operationName, contextValue }) {
            if (response.body.kind !== 'single') return;
            const result = response.body.singleResult;
            const removed = prepared?.filtered.removed;
            if (removed && result.data !== undefined) {
              const restored = restoreRemoved(result.data as Record<string, unknown> | null, removed);
              result.data = restored.data;
              result.errors = [...(result.errors ?? []), ...restored.errors];
            }
            if (!cost) return;
            if (result.data && prepared) {
              cost.actualQueryCost = edge.options.cost.actual(prepared.filtered.document, request.variables ?? {}, operationName ?? null, result.data);
            }
            // What the operation did not use goes back to the partner's bucket.
            const unused = cost.requestedQueryCost - (cost.actualQueryCost ?? 0);
            if (spent && edge.options.budget && unused > 0) cost.throttleStatus = await edge.options.budget.refund(spent, unused);
            edge.options.onCost?.(contextValue, cost);
            result.extensions = { ...result.extensions, cost };
          },
        };
      },
    };
  }

  /**
   * The guard on one resolved operation: limits, then what the caller may see, then the
   * price of what is left. Throws the refusal; otherwise says what to plan and its cost.
   * The plugin runs it for every operation; benchmarks call it directly.
   */
  check(input: GuardInput): { prepared: Prepared; requestedQueryCost: number } {
    const prepared = this.prepare(input);
    if (prepared.refusal) throw prepared.refusal;
    const requestedQueryCost = this.estimate(prepared, prepared.filtered.document, input.variables, input.operationName);
    if (requestedQueryCost > this.options.maxCost) {
      throw new ShopError(
        'COST_ESTIMATED_TOO_EXPENSIVE',
        `The operation is estimated to cost ${requestedQueryCost}; at most ${this.options.maxCost} is allowed.`,
        { requestedQueryCost, maxCost: this.options.maxCost, http: { status: 400 } },
      );
    }
    return { prepared, requestedQueryCost };
  }

  /** Limits and filtering for this operation and caller, from the cache when seen before. */
  private prepare(input: GuardInput): Prepared {
    const { document, operation, queryHash, operationName, schema } = input;
    if (!operation) throw new Error('the guard runs once the operation is resolved');
    const caller = callerOf(input.viewer);
    const key = `${queryHash}\0${operationName ?? ''}\0${caller.authenticated ? caller.scopes.join(' ') || '-' : ''}`;
    const known = this.prepared.get(key);
    if (known) return known;
    const refusal = limitExceeded(measureOperation(document, operation), this.options.limits);
    const filtered = refusal
      ? { document, removed: null, nothingLeft: false, signature: '' }
      : filterOperation(schema, document, operation, this.policy, caller);
    const prepared: Prepared = {
      refusal,
      filtered,
      queryHash: filtered.removed ? createHash('sha256').update(queryHash).update('\0').update(filtered.signature).digest('hex') : queryHash,
    };
    this.prepared.set(key, prepared);
    return prepared;
  }

  /** The estimated cost of the operation as it will run, cached per operation and the shape of its variables (`costKey`). */
  private estimate(prepared: Prepared, document: DocumentNode, variables: Record<string, unknown>, operationName: string | null): number {
    const key = `${prepared.queryHash}\0${operationName ?? ''}\0${costKey(variables)}`;
    let cost = this.costs.get(key);
    if (cost === undefined) {
      try {
        cost = this.options.cost.estimated(document, variables, operationName);
      } catch (error) {
        // An operation the cost directives make invalid: a list that must be sliced, and is not.
        if (error instanceof CostError) throw new ShopError('GRAPHQL_VALIDATION_FAILED', error.message, { http: { status: 400 } });
        throw error;
      }
      this.costs.set(key, cost);
    }
    return cost;
  }
}
