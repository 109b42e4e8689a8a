import type { Logger } from '../logger';
import type { DeadLetter, EventBus, EventEnvelope, EventHandler, EventType, SubscribeOptions, Subscription } from '../events';

const DEFAULT_MAX_DELIVERIES = 5;

interface Group {
  name: string;
  types: Set<EventType>;
  handler: EventHandler;
  maxDeliveries: number;
  queue: EventEnvelope[];
  running: Promise<void> | null;
  closed: boolean;
}

/**
 * The embedded event bus: events go to every subscribed group in publish order,
 * one at a time per group; a failing handler is retried with backoff, then the
 * event is dead-lettered. Nothing survives a restart, which is why producers keep
 * an outbox: the relay publishes again whatever was not acknowledged.
 */
export class InProcessEventBus implements EventBus {
  private readonly groups = new Map<string, Group[]>();
  private readonly dead: DeadLetter[] = [];
  private closed = false;

  constructor(
    private readonly logger: Logger,
    /** Backoff before the n-th redelivery, in ms; default 10 × 2^n. */
    private readonly backoffMs: (attempt: number) => number = (n) => 10 * 2 ** n,
  ) {}

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    if (this.closed) throw new Error('event bus is closed');
    for (const event of events) {
      for (const list of this.groups.values()) {
        for (const group of list) {
          if (group.closed || !group.types.has(event.type)) continue;
          group.queue.push(event);
          this.drain(group);
        }
      }
    }
  }

  subscribe(name: string, types: readonly EventType[], handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    const group: Group = {
      name,
      types: new Set(types),
      handler,
      maxDeliveries: options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES,
      queue: [],
      running: null,
      closed: false,
    };
    // Replicas in one process sharing a group name would each get every event here;
    // one handler per group is what a process registers, so keep the list simple.
    const list = this.groups.get(name) ?? [];
    list.push(group);
    this.groups.set(name, list);
    return {
      close: async () => {
        group.closed = true;
        await group.running;
        const remaining = this.groups.get(name)?.filter((g) => g !== group) ?? [];
        if (remaining.length) this.groups.set(name, remaining);
        else this.groups.delete(name);
      },
    };
  }

  private drain(group: Group): void {
    if (group.running) return;
    group.running = (async () => {
      while (group.queue.length && !group.closed) {
        const event = group.queue.shift()!;
        await this.deliver(group, event);
      }
      group.running = null;
    })();
  }

  private async deliver(group: Group, event: EventEnvelope): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await group.handler(event);
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (attempt >= group.maxDeliveries || group.closed) {
          this.logger.error({ err: error, group: group.name, eventId: event.id, type: event.type, attempt }, 'event dead-lettered');
          this.dead.unshift({ event, group: group.name, deliveries: attempt, lastError: message, deadAt: new Date().toISOString() });
          return;
        }
        this.logger.warn({ group: group.name, eventId: event.id, type: event.type, attempt, error: message }, 'event handler failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      }
    }
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    return this.dead.slice(0, limit);
  }

  async ready(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.groups.values()) for (const group of list) group.closed = true;
    await Promise.all([...this.groups.values()].flat().map((g) => g.running));
  }
}
