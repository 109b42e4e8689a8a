import { requireAdmin, type Viewer } from '../../platform/auth';
import type { DeadLetter, EventBus } from '../../platform/events';
import { pageSize } from '../../platform/pagination';

/** A dead letter as an admin sees it: what failed and why, without the payload (it may hold a payment token). */
export interface DeadLetterView {
  eventId: string;
  type: string;
  aggregateId: string;
  group: string;
  deliveries: number;
  lastError: string;
  deadAt: string;
}

export function deadLetterView(letter: DeadLetter): DeadLetterView {
  return {
    eventId: letter.event.id,
    type: letter.event.type,
    aggregateId: letter.event.aggregateId,
    group: letter.group,
    deliveries: letter.deliveries,
    lastError: letter.lastError,
    deadAt: letter.deadAt,
  };
}

/**
 * The saga's dead letters, for admins: the order subgraph owns the saga, so it shows the
 * events any subgraph's consumers gave up on.
 */
export class DeadLetterService {
  constructor(private readonly bus: () => Promise<EventBus>) {}

  async list(viewer: Viewer, first: number | null | undefined): Promise<DeadLetterView[]> {
    requireAdmin(viewer);
    const limit = pageSize(first, 20);
    if (limit === 0) return [];
    return (await (await this.bus()).deadLetters(limit)).map(deadLetterView);
  }
}
