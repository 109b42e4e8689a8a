import { createHash } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';

export interface SharedEventRunsOptions {
  /** How long a completed event stays shareable after its first arrival, in ms. */
  windowMs: number;
  /** Distinct events remembered at once; the least recently used goes first. */
  maxEntries: number;
}

/**
 * Subscribers whose events are interchangeable: same operation, variables and token.
 * Computed once per subscription; each event then adds only its own content to the key.
 */
export function subscriberGroup(operationKey: string, variables: Record<string, unknown>, authorization: string | undefined): string {
  return createHash('sha256')
    .update(operationKey)
    .update('\0')
    .update(JSON.stringify(variables))
    .update('\0')
    .update(authorization ?? '')
    .digest('base64url');
}

/**
 * Clients subscribed to the same operation with the same variables and token receive the
 * same events, each over its own upstream connection. Completing an event (the entity
 * fetches of the rest of the plan) is done once per distinct event and shared: the first
 * arrival runs it, the others arriving within the window take its result, so a thousand
 * shoppers watching one product cost one catalog fetch per change, not a thousand.
 *
 * The token is part of the identity because secondary subgraphs answer per caller. An
 * identical event within the window (a count set back and forth) gets the earlier
 * completion: its secondary fields are at most `windowMs` old.
 */
export class SharedEventRuns {
  private readonly runs: LRUCache<string, Promise<ExecutionResult>>;

  constructor(options: SharedEventRunsOptions) {
    this.runs = new LRUCache({ max: options.maxEntries, ttl: options.windowMs });
  }

  /** The completion of this event for this group: an earlier subscriber's within the window, or `complete()`'s. */
  run(group: string, event: unknown, complete: () => Promise<ExecutionResult>): Promise<ExecutionResult> {
    const key = createHash('sha256').update(group).update('\0').update(JSON.stringify(event)).digest('base64url');
    const earlier = this.runs.get(key);
    if (earlier) return earlier;
    const running = complete();
    this.runs.set(key, running);
    return running;
  }
}
