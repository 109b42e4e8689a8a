import type { Logger } from '../logger';
import type { DeadLetter, EventBus, EventEnvelope, EventHandler, EventType, SubscribeOptions, Subscription } from '../events';

const DEFAULT_MAX_DELIVERIES = 5;
/** Dead letters kept in memory, most recent first. */
const DEAD_LETTERS_KEPT = 10_000;

interface Member {
  name: string;
  types: Set<EventType>;
  handler: EventHandler;
  maxDeliveries: number;
  queue: EventEnvelope[];
  running: Promise<void> | null;
  /** No new events once closing; what is queued is still delivered. */
  closing: boolean;
}

interface Group {
  members: Member[];
  /** Round-robin position among the members, so subscribers of one group share its events. */
  turn: number;
}

/**
 * The embedded event bus: each group gets every event of its types, in publish order,
 * one at a time per subscriber; subscribers of one group take turns. A failing handler
 * is retried with backoff, then the event is dead-lettered. Closing delivers what was
 * already queued first, since the relay has marked it published; nothing survives the
 * process, so an event queued when the process dies is lost (use Redis Streams where
 * that matters).
 */
export class InProcessEventBus implements EventBus {
  readonly durable = false;
  private readonly groups = new Map<string, Group>();
  private readonly dead: DeadLetter[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    /** Backoff before the n-th redelivery, in ms; default 10 × 2^n. */
    private readonly backoffMs: (attempt: number) => number = (n) => 10 * 2 ** n,
  ) {}

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    if (this.closing) throw new Error('event bus is closed');
    for (const event of events) {
      for (const group of this.groups.values()) {
        const eligible = group.members.filter((m) => !m.closing && m.types.has(event.type));
        if (eligible.length === 0) continue;
        const member = eligible[group.turn++ % eligible.length]!;
        member.queue.push(event);
        this.drain(member);
      }
    }
  }

  subscribe(name: string, types: readonly EventType[], handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    if (this.closing) throw new Error('event bus is closed');
    const member: Member = {
      name,
      types: new Set(types),
      handler,
      maxDeliveries: options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES,
      queue: [],
      running: null,
      closing: false,
    };
    const group = this.groups.get(name) ?? { members: [], turn: 0 };
    group.members.push(member);
    this.groups.set(name, group);
    let closed: Promise<void> | undefined;
    return { close: () => (closed ??= this.closeMember(member)) };
  }

  private async closeMember(member: Member): Promise<void> {
    member.closing = true;
    await member.running;
    const group = this.groups.get(member.name);
    if (!group) return;
    group.members = group.members.filter((m) => m !== member);
    if (group.members.length === 0) this.groups.delete(member.name);
  }

  private drain(member: Member): void {
    if (member.running) return;
    member.running = (async () => {
      // Handlers run after the publisher's call returns, never inside it.
      await new Promise((resolve) => setImmediate(resolve));
      while (member.queue.length) {
        const event = member.queue.shift()!;
        await this.deliver(member, event);
      }
      member.running = null;
    })();
  }

  private async deliver(member: Member, event: EventEnvelope): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await member.handler(event);
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (attempt >= member.maxDeliveries) {
          this.logger.error({ err: error, group: member.name, eventId: event.id, type: event.type, attempt }, 'event dead-lettered');
          this.dead.unshift({ event, group: member.name, deliveries: attempt, lastError: message, deadAt: new Date().toISOString() });
          this.dead.length = Math.min(this.dead.length, DEAD_LETTERS_KEPT);
          return;
        }
        this.logger.warn({ group: member.name, eventId: event.id, type: event.type, attempt, error: message }, 'event handler failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      }
    }
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    return this.dead.slice(0, limit);
  }

  async ready(): Promise<boolean> {
    return !this.closing;
  }

  /** Stops taking events, delivers what is queued, resolves when every handler is done. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      const members = [...this.groups.values()].flatMap((g) => g.members);
      await Promise.all(members.map((m) => this.closeMember(m)));
    })());
  }
}
