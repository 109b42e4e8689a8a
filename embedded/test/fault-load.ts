/**
 * Checkout load through the router, as shoppers and an admin would make it with plain
 * fetch: fill a cart, place it (sometimes the same idempotency key twice at once, and again
 * after an error, as a client retries), wait for the saga, then cancel or ship some orders.
 * Every request is recorded with the `extensions.code` of its errors and its time, so a
 * fault test can say what a fault cost the shop's clients.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { sleep } from '../../platform/testing';

/** A signed-in shopper. */
export interface Shopper {
  email: string;
  customerId: string;
  token: string;
}

/** One request the load sent: when, what, and the error codes it got (empty when it succeeded). */
export interface RequestRecord {
  at: number;
  operation: 'login' | 'register' | 'addToCart' | 'updateCartLine' | 'placeOrder' | 'order' | 'cancelOrder' | 'shipOrder' | 'deliverOrder';
  codes: string[];
}

/** What the load knows of one idempotency key it sent. */
export interface KeyRecord {
  key: string;
  customerId: string;
  /** Requests sent with this key, concurrent ones included. */
  sends: number;
  /** Every order id a response under this key named. */
  orderIds: Set<string>;
  /** When the first request with this key was sent. */
  firstSentAt: number;
}

/** An order the load placed, as its client saw it. */
export interface PlacedOrder {
  id: string;
  key: string;
  phase: string;
  /** When its checkout was first sent. */
  sentAt: number;
  /** When the client first saw it CONFIRMED (polling), if it did. */
  confirmedSeenAt?: number;
  lastSeenStatus?: string;
}

/** The error code of a request that got no GraphQL answer at all (the router unreachable, not JSON). */
export const NO_RESPONSE = 'NO_RESPONSE';
/** An error without `extensions.code`; the registry promises there is none. */
export const NO_CODE = 'NO_CODE';

/** Error codes a client retries after: the shop or a part of it is down for the moment. */
const TRANSIENT = new Set(['SUBGRAPH_UNAVAILABLE', 'SERVICE_UNAVAILABLE', 'INTERNAL_SERVER_ERROR', NO_RESPONSE, NO_CODE]);

const ADDRESS = { line1: '1 Canal Street', city: 'Amsterdam', postalCode: '1012 AB', country: 'NL' };

interface Answer {
  data?: Record<string, any> | null;
  codes: string[];
  /** The smallest `extensions.retryAfterSeconds` of the errors, if any said. */
  retryAfterSeconds?: number;
}

/** Plain fetch to the router; every answer is recorded. */
/**
 * Connections to the router kept alive between requests. undici's request, not fetch: the
 * load generator shares the machine with the shop it measures, and with fetch it spent
 * half as much again of its CPU per checkout.
 */
const clientConnections = new Agent({ keepAliveTimeout: 30_000, connections: 256 });

export class RouterClient {
  readonly requests: RequestRecord[] = [];

  constructor(private readonly url: string) {}

  async send(operation: RequestRecord['operation'], query: string, variables: Record<string, unknown>, token?: string): Promise<Answer> {
    const at = Date.now();
    let answer: Answer;
    try {
      const response = await request(this.url, {
        dispatcher: clientConnections,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await response.body.json()) as { data?: Record<string, any> | null; errors?: { extensions?: Record<string, unknown> }[] };
      const errors = body.errors ?? [];
      const after = errors.map((e) => e.extensions?.retryAfterSeconds).filter((s): s is number => typeof s === 'number');
      answer = {
        data: body.data,
        codes: errors.map((e) => (typeof e.extensions?.code === 'string' ? e.extensions.code : NO_CODE)),
        ...(after.length ? { retryAfterSeconds: Math.min(...after) } : {}),
      };
    } catch {
      answer = { codes: [NO_RESPONSE] };
    }
    this.requests.push({ at, operation, codes: answer.codes });
    return answer;
  }
}

export interface CheckoutLoadOptions {
  client: RouterClient;
  shoppers: Shopper[];
  adminToken: string;
  /** Products to buy, by catalog id. */
  productIds: string[];
  /** Named on every order placed, so a failure says in which part of the run an order was placed. */
  phase: string;
  /** Deterministic choices per run. */
  seed: number;
  /** Everything the load learns is added here, across phases. */
  keys: Map<string, KeyRecord>;
  orders: Map<string, PlacedOrder>;
}

/** A small deterministic generator (mulberry32), so a failing run can be read again. */
function randomFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADD = `mutation ($input: CartLineInput!) { addToCart(input: $input) { lines { quantity } } }`;
const SET = `mutation ($input: CartLineInput!) { updateCartLine(input: $input) { lines { quantity } } }`;
const PLACE = `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
const STATUS = `query ($id: ID!) { order(id: $id) { id status } }`;
const action = (name: 'cancelOrder' | 'shipOrder' | 'deliverOrder') => `mutation ($id: ID!) { ${name}(id: $id) { id status } }`;

/**
 * Shoppers checking out side by side until `stop`: each one in turn fills a cart, places
 * it and follows it, and an admin ships some of the confirmed orders. Bounded: one
 * checkout at a time per shopper, a short pause between.
 */
export class CheckoutLoad {
  private stopping = false;
  private readonly running: Promise<void>[];
  private readonly random: () => number;
  private sequence = 0;

  constructor(private readonly options: CheckoutLoadOptions) {
    this.random = randomFrom(options.seed);
    this.running = options.shoppers.map((shopper) => this.shop(shopper));
  }

  /** Orders this load placed. */
  placed(): PlacedOrder[] {
    return [...this.options.orders.values()].filter((o) => o.phase === this.options.phase);
  }

  /** Lets every shopper finish the request it is on, and resolves when all have stopped. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private async shop(shopper: Shopper): Promise<void> {
    while (!this.stopping) {
      await this.checkout(shopper);
      await sleep(50 + this.random() * 150);
    }
  }

  /** A call retried while the shop is unavailable, as a client does; resolves the last answer. */
  private async retrying(send: (attempt: number) => Promise<Answer>, attempts = 8): Promise<Answer> {
    let answer = await send(1);
    for (let attempt = 2; attempt <= attempts && !this.stopping && answer.codes.some((c) => TRANSIENT.has(c)); attempt++) {
      const waitMs = answer.retryAfterSeconds !== undefined ? answer.retryAfterSeconds * 1000 : 200 * 2 ** (attempt - 2);
      await sleep(Math.min(waitMs, 2_000));
      answer = await send(attempt);
    }
    return answer;
  }

  private async checkout(shopper: Shopper): Promise<void> {
    const { client, productIds } = this.options;
    const lines = this.random() < 0.6 ? 1 : 2;
    for (let i = 0; i < lines; i++) {
      const productId = productIds[Math.floor(this.random() * productIds.length)]!;
      const quantity = this.random() < 0.8 ? 1 : 2;
      // An add that was stored before its reply was lost must not be added twice: a retry sets the line.
      const added = await this.retrying((attempt) =>
        attempt === 1
          ? client.send('addToCart', ADD, { input: { productId, quantity } }, shopper.token)
          : client.send('updateCartLine', SET, { input: { productId, quantity } }, shopper.token),
      );
      if (added.codes.length) return;
    }
    if (this.stopping) return;

    const draw = this.random();
    const paymentToken = draw < 0.85 ? 'tok_visa' : draw < 0.93 ? 'tok_mastercard' : draw < 0.97 ? 'tok_processingError' : 'tok_chargeDeclined';
    const key = `${this.options.phase}-${++this.sequence}-${randomBytes(4).toString('hex')}`;
    const record: KeyRecord = { key, customerId: shopper.customerId, sends: 0, orderIds: new Set(), firstSentAt: Date.now() };
    this.options.keys.set(key, record);
    const input = { idempotencyKey: key, shippingAddress: ADDRESS, paymentToken };
    const place = async (): Promise<Answer> => {
      record.sends += 1;
      const answer = await client.send('placeOrder', PLACE, { input }, shopper.token);
      const id = answer.data?.placeOrder?.id as string | undefined;
      if (id) record.orderIds.add(id);
      return answer;
    };
    // Now and then a client sends its checkout twice at once (a double click, a retry racing the first).
    const twice = this.random() < 0.2;
    const answer = await this.retrying(async () => {
      const answers = await Promise.all(twice && record.sends === 0 ? [place(), place()] : [place()]);
      return answers.find((a) => a.data?.placeOrder) ?? answers[0]!;
    });
    const orderId = answer.data?.placeOrder?.id as string | undefined;
    if (!orderId) return;
    const order: PlacedOrder = { id: orderId, key, phase: this.options.phase, sentAt: record.firstSentAt };
    this.options.orders.set(orderId, order);
    // A client that lost the reply sends the same checkout again: it must get the same order.
    if (this.random() < 0.1) await place();

    const status = await this.follow(shopper, order);
    if (status !== 'CONFIRMED' || this.stopping) return;
    const next = this.random();
    if (next < 0.2) {
      await this.retrying(() => client.send('cancelOrder', action('cancelOrder'), { id: orderId }, shopper.token));
    } else if (next < 0.55) {
      const shipped = await this.retrying(() => client.send('shipOrder', action('shipOrder'), { id: orderId }, this.options.adminToken));
      if (!shipped.codes.length && this.random() < 0.5) {
        await this.retrying(() => client.send('deliverOrder', action('deliverOrder'), { id: orderId }, this.options.adminToken));
      }
    }
  }

  /** Polls the order until it leaves PENDING (or the load stops); resolves the status seen last. */
  private async follow(shopper: Shopper, order: PlacedOrder): Promise<string | undefined> {
    const deadline = Date.now() + 30_000;
    while (!this.stopping && Date.now() < deadline) {
      const answer = await this.options.client.send('order', STATUS, { id: order.id }, shopper.token);
      const status = answer.data?.order?.status as string | undefined;
      if (status) order.lastSeenStatus = status;
      if (status === 'CONFIRMED') order.confirmedSeenAt ??= Date.now();
      if (status && status !== 'PENDING') return status;
      await sleep(answer.codes.length ? 500 : 100);
    }
    return order.lastSeenStatus;
  }
}

/** Error codes counted per window of a fault: before it, while it lasted, after recovery. */
export interface FaultCost {
  fault: string;
  requests: { before: number; during: number; after: number };
  codes: { before: Record<string, number>; during: Record<string, number>; after: Record<string, number> };
  /** Seconds from the fault until a checkout sent after it was seen CONFIRMED; undefined when none was. */
  secondsToFirstCheckout?: number;
  /** How long the fault lasted until the failed part answered again, in seconds. */
  outageSeconds: number;
}

/** What a fault cost clients, from the requests the load recorded. */
export function faultCost(
  fault: string,
  requests: readonly RequestRecord[],
  orders: readonly PlacedOrder[],
  window: { startedAt: number; faultAt: number; recoveredAt: number; stoppedAt: number },
): FaultCost {
  const tally = (from: number, to: number) => {
    const codes: Record<string, number> = {};
    let count = 0;
    for (const r of requests) {
      if (r.at < from || r.at >= to) continue;
      count += 1;
      for (const code of new Set(r.codes)) codes[code] = (codes[code] ?? 0) + 1;
    }
    return { codes, count };
  };
  const before = tally(window.startedAt, window.faultAt);
  const during = tally(window.faultAt, window.recoveredAt);
  const after = tally(window.recoveredAt, window.stoppedAt + 1);
  const confirmedAfter = orders
    .filter((o) => o.sentAt >= window.faultAt && o.confirmedSeenAt !== undefined)
    .map((o) => o.confirmedSeenAt!);
  return {
    fault,
    requests: { before: before.count, during: during.count, after: after.count },
    codes: { before: before.codes, during: during.codes, after: after.codes },
    ...(confirmedAfter.length ? { secondsToFirstCheckout: (Math.min(...confirmedAfter) - window.faultAt) / 1000 } : {}),
    outageSeconds: (window.recoveredAt - window.faultAt) / 1000,
  };
}

/** One readable paragraph per fault, for the CI log. */
export function formatFaultCost(cost: FaultCost): string {
  const codes = (c: Record<string, number>) =>
    Object.keys(c).length ? Object.entries(c).sort(([, a], [, b]) => b - a).map(([code, n]) => `${code}×${n}`).join(', ') : 'none';
  const first = cost.secondsToFirstCheckout === undefined ? 'none seen' : `${cost.secondsToFirstCheckout.toFixed(1)} s`;
  return [
    `fault: ${cost.fault} (down ${cost.outageSeconds.toFixed(1)} s)`,
    `  before: ${cost.requests.before} requests, errors ${codes(cost.codes.before)}`,
    `  during: ${cost.requests.during} requests, errors ${codes(cost.codes.during)}`,
    `  after:  ${cost.requests.after} requests, errors ${codes(cost.codes.after)}`,
    `  first checkout CONFIRMED after the fault: ${first}`,
  ].join('\n');
}
