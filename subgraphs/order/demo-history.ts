/**
 * The demo shop's past orders, replayed through checkout: each customer fills a cart and
 * places the order, the saga reserves stock, authorizes and confirms it, and the admin
 * ships and delivers it, so every subgraph learns the history from the same events a
 * live order sends. Nothing is written around the domain services.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DemoOrder, DemoShop } from '../../platform/demo-shop-types';
import type { Viewer } from '../../platform/auth';
import type { Logger } from '../../platform/logger';
import type { Worker } from '../../platform/subgraph';
import type { OrderService } from './order-service';

/**
 * The time orders are placed at: the order's own `placedAt` inside `at(...)`, the system time
 * elsewhere. Each replayed order runs in its own async context, so orders replayed at once
 * each see their own time and live requests see the real one. The context is only tracked
 * while some `at` runs: on Node 20 an AsyncLocalStorage that has run once keeps a hook on
 * every promise and callback of the process until it is disabled, which cost the order
 * process a twentieth of its CPU under load long after the replay had ended.
 */
export class HistoryClock {
  private readonly time = new AsyncLocalStorage<Date>();
  private running = 0;
  readonly now = (): Date => new Date(this.time.getStore() ?? Date.now());
  async at<T>(time: Date, work: () => Promise<T>): Promise<T> {
    this.running += 1;
    try {
      return await this.time.run(time, work);
    } finally {
      this.running -= 1;
      if (this.running === 0) this.time.disable();
    }
  }
}

export interface DemoHistoryOptions {
  shop: DemoShop;
  orders: OrderService;
  /** The clock the order service places orders by. */
  clock: HistoryClock;
  /** The admin account that ships and delivers. */
  adminId: string;
  logger: Logger;
  /** Customers replayed at once; each customer's orders run one after another (one cart each). Default 4. */
  concurrency?: number;
  /** How long one order may take to be confirmed by the saga; default 30 s. */
  settleTimeoutMs?: number;
  /** Stops the replay between orders (the process is shutting down). */
  signal?: AbortSignal;
}

/** Demo card brands the simulated processor knows a token for; others pay by Visa. */
const TOKEN_OF_BRAND: Record<string, string> = { mastercard: 'tok_mastercard' };
const paymentTokenOf = (order: DemoOrder) => TOKEN_OF_BRAND[order.card.brand.toLowerCase()] ?? 'tok_visa';

/** Statuses an order does not leave without a shop action. */
const SETTLED = new Set(['CONFIRMED', 'REJECTED', 'PAYMENT_FAILED', 'CANCELLED']);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Attempts of a step whose peer (the catalog) did not answer, as a customer would try again. */
const ATTEMPTS = 5;

const isUnavailable = (error: unknown) =>
  (error as { extensions?: { code?: unknown } } | null)?.extensions?.code === 'SUBGRAPH_UNAVAILABLE';

/** Runs `step`, again after a pause while a subgraph it calls is unavailable; `attempt` counts from 1. */
async function retrying<T>(step: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step(attempt);
    } catch (error) {
      if (attempt >= ATTEMPTS || !isUnavailable(error)) throw error;
      await pause(200 * 2 ** (attempt - 1));
    }
  }
}

/**
 * Replays the demo shop's past orders when the order store holds none; resolves how many
 * were replayed (0 when orders existed). Throws when an order is not confirmed, since the
 * demo stock and prices are made so that every past order goes through.
 */
export async function replayDemoHistory(options: DemoHistoryOptions): Promise<number> {
  const { shop, orders, clock, logger } = options;
  if (await orders.hasOrders()) return 0;
  const admin: Viewer = { kind: 'customer', customerId: options.adminId, scopes: ['customer', 'admin'] };
  const settleTimeoutMs = options.settleTimeoutMs ?? 30_000;

  const byCustomer = new Map<string, DemoOrder[]>();
  for (const order of shop.orders) {
    const list = byCustomer.get(order.customerId) ?? [];
    list.push(order);
    byCustomer.set(order.customerId, list);
  }

  const started = Date.now();
  let done = 0;
  let lastReport = started;

  const replayOne = async (past: DemoOrder): Promise<void> => {
    const requestId = `demo-history:${past.id}`;
    const customer = { viewer: { kind: 'customer', customerId: past.customerId, scopes: ['customer'] } as Viewer, requestId };
    for (const line of past.lines) {
      const input = { productId: line.productId, quantity: line.quantity };
      // An add may have been stored before its reply failed, so a retry sets the quantity instead.
      await retrying((attempt) =>
        attempt === 1
          ? orders.addToCart({ ...customer, loaders: orders.loaders(requestId) }, input)
          : orders.updateCartLine({ ...customer, loaders: orders.loaders(requestId) }, input),
      );
    }
    // The idempotency key makes a retried checkout return the order placed the first time.
    const placed = await retrying(() =>
      clock.at(past.placedAt, () =>
        orders.placeOrder(
          { ...customer, loaders: orders.loaders(requestId) },
          { idempotencyKey: `demo:${past.id}`, shippingAddress: past.shippingAddress, paymentToken: paymentTokenOf(past) },
        ),
      ),
    );

    const deadline = Date.now() + settleTimeoutMs;
    let status = placed.status;
    for (let wait = 2; !SETTLED.has(status); wait = Math.min(wait * 2, 50)) {
      // Shutting down: the saga goes on without us; this order just stays unshipped.
      if (options.signal?.aborted) return;
      if (Date.now() > deadline) throw new Error(`demo order ${past.id} (order ${placed.id}) is still ${status} after ${settleTimeoutMs} ms`);
      await pause(wait);
      status = (await orders.order(admin, placed.id, orders.loaders(requestId)))?.status ?? status;
    }
    if (status !== 'CONFIRMED') throw new Error(`demo order ${past.id} (order ${placed.id}) ended ${status}, not CONFIRMED`);

    const adminRequest = { viewer: admin, requestId, loaders: orders.loaders(requestId) };
    await orders.shipOrder(adminRequest, placed.id);
    await orders.deliverOrder(adminRequest, placed.id);

    done += 1;
    if (Date.now() - lastReport >= 5_000) {
      lastReport = Date.now();
      logger.info({ done, total: shop.orders.length }, 'replaying demo order history');
    }
  };

  // Customers are replayed side by side; one customer's orders in turn, since they share a cart.
  const queue = [...byCustomer.values()];
  let failed = false;
  const worker = async () => {
    try {
      for (let list = queue.shift(); list && !failed && !options.signal?.aborted; list = queue.shift()) {
        for (const past of list) if (!failed && !options.signal?.aborted) await replayOne(past);
      }
    } catch (error) {
      failed = true;
      throw error;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  if (options.signal?.aborted) {
    logger.warn({ orders: done, total: shop.orders.length }, 'demo order history replay stopped part way; it is not resumed');
    return done;
  }
  logger.info({ orders: done, ms: Date.now() - started }, 'replayed demo order history through checkout');
  return done;
}

/** The demo shop's admin account, who ships and delivers its past orders. */
export function demoAdminId(shop: DemoShop): string {
  const admin = shop.customers.find((c) => c.admin);
  if (!admin) throw new Error('the demo shop has no admin account to ship its past orders');
  return admin.id;
}

/** Resolves once every URL's `/ready` answers 200, polling; rejects after `timeoutMs` or when aborted. */
async function untilReady(graphqlUrls: readonly string[], timeoutMs: number, signal: AbortSignal, logger: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const waiting = new Set(graphqlUrls.map((url) => new URL('/ready', url).toString()));
  let lastReport = 0;
  while (waiting.size > 0) {
    for (const url of [...waiting]) {
      const ready = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((res) => res.ok, () => false);
      if (ready) waiting.delete(url);
    }
    if (waiting.size === 0 || signal.aborted) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms: ${[...waiting].join(', ')}`);
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      logger.info({ waiting: [...waiting] }, 'demo order history waits for the subgraphs checkout needs');
    }
    await pause(500);
  }
}

export interface DemoHistoryWorkerOptions extends Omit<DemoHistoryOptions, 'signal' | 'adminId'> {
  /** GraphQL URLs of the subgraphs checkout needs (catalog prices, stock, payment). */
  peers: readonly string[];
  /** How long to wait for them to be ready; default 5 minutes. */
  readyTimeoutMs?: number;
}

/**
 * The demo history in a process of its own (a container): once the subgraphs checkout needs
 * answer `/ready`, past orders are replayed in the background while the order subgraph
 * already serves. Does nothing when orders exist. Run one order replica with it.
 */
export function demoHistoryWorker(options: DemoHistoryWorkerOptions): Worker {
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  const { logger } = options;
  return {
    name: 'demo-history',
    start: () => {
      running = (async () => {
        if (await options.orders.hasOrders()) return;
        await untilReady(options.peers, options.readyTimeoutMs ?? 300_000, stop.signal, logger);
        if (stop.signal.aborted) return;
        logger.info({ orders: options.shop.orders.length }, 'replaying demo order history through checkout');
        await replayDemoHistory({ ...options, adminId: demoAdminId(options.shop), signal: stop.signal });
      })().catch((err) => logger.error({ err }, 'demo order history not replayed'));
    },
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}
