import type { FetchNode } from '@apollo/query-planner';
import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  print,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { ShopError } from '../platform/errors';
import type { RouterContext } from './context';
import type { PreparedOperation, RouterExecutor } from './executor';

/** A subscription the router accepted, ready to open at its subgraph and to run for each event. */
export interface PlannedSubscription {
  /** The subgraph that owns the subscription field, and the operation to open there. */
  primary: FetchNode;
  /** The operation planned and compiled: what completes each event. */
  prepared: PreparedOperation;
  document: DocumentNode;
  operationName?: string;
  /** The operation's name and printed text: equal for every client sending the same operation. */
  operationKey: string;
  /** The client's variables, as sent; the primary gets the ones it uses. */
  variables: Record<string, unknown>;
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
}

/**
 * Plans federated subscriptions with Apollo's query planner, as the router's executor
 * plans queries, and runs what Apollo Gateway will not: each event from the owning
 * subgraph becomes the answer of the primary fetch, and the rest of the plan (entity
 * fetches to other subgraphs) runs on it through the same executor as queries.
 */
export class SubscriptionPlanner {
  /** The public schema clients validate against (no federation internals). */
  readonly apiSchema: GraphQLSchema;
  /** HTTP URL of every subgraph, overrides applied. */
  readonly subgraphUrls: ReadonlyMap<string, string>;

  /** Printed text of each document planned: documents come from the server's caches, so each is printed once. */
  private readonly printed = new WeakMap<DocumentNode, string>();

  constructor(private readonly executor: RouterExecutor) {
    this.apiSchema = executor.apiSchema;
    this.subgraphUrls = executor.subgraphUrls;
  }

  /**
   * Plans a subscription the WebSocket server parsed and validated against the API schema.
   * Returns the errors a client should see instead when the operation or the variables are wrong.
   */
  plan(document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown> = {}): PlannedSubscription | readonly GraphQLError[] {
    const operation = getOperationAST(document, operationName);
    if (!operation) {
      const message = operationName ? `Unknown operation named "${operationName}".` : 'Send exactly one operation, or name the one to run.';
      return [new ShopError('OPERATION_RESOLUTION_FAILURE', message)];
    }
    if (operation.operation !== 'subscription') {
      // Queries and mutations go over HTTP, where persisted-operation and cost limits apply.
      return [new ShopError('BAD_REQUEST', 'This WebSocket serves subscriptions; send queries and mutations over HTTP.')];
    }
    const coerced = getVariableValues(this.apiSchema, operation.variableDefinitions ?? [], variables);
    if (coerced.errors) return coerced.errors.map((e) => withCode(e, 'BAD_USER_INPUT'));

    let text = this.printed.get(document);
    if (text === undefined) {
      text = print(document);
      this.printed.set(document, text);
    }
    const key = `${operationName ?? ''}\n${text}`;
    const prepared = this.executor.plan(document, operationName, `subscription\0${key}`);
    if (!prepared.primary) throw new Error(`expected a subscription plan, got ${prepared.plan.node?.kind ?? 'none'}`);
    return { primary: prepared.primary, prepared, document, ...(operationName ? { operationName } : {}), operationKey: key, variables };
  }

  /** The request the owning subgraph's WebSocket receives: the primary fetch and the variables it uses. */
  primaryRequest(planned: PlannedSubscription): { query: string; operationName?: string; variables: Record<string, unknown> } {
    const variables: Record<string, unknown> = {};
    for (const name of planned.primary.variableUsages ?? []) {
      if (planned.variables[name] !== undefined) variables[name] = planned.variables[name];
    }
    return { query: planned.primary.operation, ...(planned.primary.operationName ? { operationName: planned.primary.operationName } : {}), variables };
  }

  /**
   * Completes one event: runs the rest of the plan with the event as the primary's
   * result and shapes the payload to the client's selection. A failing secondary fetch
   * leaves errors (and nulls) in the payload; it never throws.
   */
  async runEvent(planned: PlannedSubscription, event: ExecutionResult | { data?: unknown; errors?: readonly GraphQLFormattedError[] }, context: RouterContext): Promise<ExecutionResult> {
    try {
      const result = await this.executor.runEvent(planned.prepared, event, planned.variables, context);
      return {
        data: (result.data ?? null) as ExecutionResult['data'],
        ...(result.errors ? { errors: result.errors as GraphQLError[] } : {}),
      };
    } catch (error) {
      context.logger.error({ err: error }, 'subscription event failed');
      return { data: null, errors: [new GraphQLError('The event could not be completed.', { originalError: error as Error })] };
    }
  }
}
