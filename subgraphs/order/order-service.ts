import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { requireAdmin, requireCustomer, requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import { badUserInput, notFound, ShopError } from '../../platform/errors';
import type { EventEnvelope } from '../../platform/events';
import { groupByKey, loaderPer, recordLoader } from '../../platform/loaders';
import type { Logger } from '../../platform/logger';
import type { Money } from '../../platform/money';
import { pageSize } from '../../platform/pagination';
import { orderTopic, type PubSub } from '../../platform/pubsub';
import type { CatalogPrice, ProductPrices } from './catalog/port';
import {
  checkoutHash,
  parseCartLineInput,
  parsePlaceOrderInput,
  type CartLineInput,
  type Checkout,
  type PlaceOrderInput,
} from './checkout-input';
import { failureReasonOf, movesOf, transition, type OrderEvent } from './order-lifecycle';
import { announcement, orderPlaced, ORDER_CONSUMER_GROUP, reactionTo } from './order-saga';
import { orderUpdatedMessage, watchOrderUpdates } from './order-watch';
import {
  MAX_LINE_QUANTITY,
  MAX_ORDER_LINES,
  priceCart,
  priceOrder,
  type CartItem,
  type PricedCartLine,
  type PricedLineInput,
} from './pricing';
import type {
  CartChange,
  CartLineRecord,
  CartLimits,
  IdempotencyRecord,
  NewOrder,
  OrderChange,
  OrderLineRecord,
  OrderRecord,
  OrderStore,
} from './store/port';

/** Orders a customer's history returns when the client does not say. */
export const DEFAULT_ORDER_HISTORY_SIZE = 20;

/** A stored line with the currency of its order, which every amount on it is in. */
export interface OrderLineView extends OrderLineRecord {
  currency: string;
}

/** What a cart may hold: 1 to 99 units a line, and no more lines than one order takes. */
export const CART_LIMITS: CartLimits = { maxQuantity: MAX_LINE_QUANTITY, maxLines: MAX_ORDER_LINES };

/** This request's batched readers of orders, carts and catalog prices. */
export interface OrderLoaders {
  orders: DataLoader<string, OrderRecord | null>;
  lines: DataLoader<string, OrderLineRecord[]>;
  /** Customers' newest orders; one loader per page size, since `first` is part of what is asked. */
  customerOrders(first: number): DataLoader<string, OrderRecord[]>;
  /** Lines of customers' carts, by customer id. */
  cartLines: DataLoader<string, CartLineRecord[]>;
  /** Current catalog prices by product id: every price asked for in one tick is one catalog call. */
  prices: DataLoader<string, CatalogPrice | null>;
}

/** One request as the service sees it: who asks, its id (passed on to the catalog and into events) and its loaders. */
export interface OrderRequest {
  viewer: Viewer;
  requestId?: string;
  loaders: OrderLoaders;
}

/** A customer's cart priced at the catalog's current prices; a customer has one cart, so it has their id. */
export interface CartView {
  id: string;
  customerId: string;
  lines: PricedCartLine[];
  subtotal: Money;
}

export interface OrderServiceOptions {
  /** The catalog's current prices: carts and checkouts are priced from it, never from input. */
  prices: ProductPrices;
  /** ISO 4217 code the shop sells in (SHOP_CURRENCY). */
  currency: string;
  logger?: Logger;
  /** Called after each transaction that wrote to the outbox commits (the relay's `notify`); default none. */
  afterCommit?: () => void;
  /** When an order is placed; default the system time. The demo shop's history replays orders at their own time. */
  now?: () => Date;
  /** The process's pub/sub: status changes are published there for `orderUpdated`; without it nobody can watch orders. */
  pubsub?: () => Promise<PubSub>;
}

function requestMismatch(): ShopError {
  return new ShopError(
    'IDEMPOTENCY_KEY_REUSED',
    'This idempotency key was already used for a different order request; send a new key for a new order.',
    { field: 'input.idempotencyKey' },
  );
}

/**
 * The order subgraph's rules: who may read and change which orders and carts, how carts and
 * orders are priced, how checkout stays idempotent, and how orders move through their
 * lifecycle on shop actions and on the saga's events.
 */
export class OrderService {
  private readonly prices: ProductPrices;
  private readonly currency: string;
  private readonly logger: Logger | undefined;
  private readonly afterCommit: () => void;
  private readonly now: () => Date;
  private readonly pubsub: (() => Promise<PubSub>) | undefined;

  constructor(
    private readonly store: OrderStore,
    options: OrderServiceOptions,
  ) {
    this.prices = options.prices;
    this.currency = options.currency;
    this.logger = options.logger;
    this.afterCommit = options.afterCommit ?? (() => {});
    this.now = options.now ?? (() => new Date());
    this.pubsub = options.pubsub;
  }

  /** Loaders for one request; `requestId` travels with the catalog calls they make. */
  loaders(requestId?: string): OrderLoaders {
    const orders = recordLoader((ids) => this.store.ordersByIds(ids), (order) => order.id);
    return {
      orders,
      cartLines: new DataLoader(
        async (customerIds) => groupByKey(customerIds, await this.store.cartLinesOf(customerIds), (line) => line.customerId),
        { maxBatchSize: 1000 },
      ),
      prices: new DataLoader(
        async (productIds) => {
          const found = await this.prices.pricesOf(productIds, requestId ? { requestId } : {});
          return productIds.map((id) => found.get(id) ?? null);
        },
        { maxBatchSize: 1000 },
      ),
      lines: new DataLoader(async (ids) => groupByKey(ids, await this.store.linesOfOrders(ids), (line) => line.orderId), {
        maxBatchSize: 1000,
      }),
      customerOrders: loaderPer(
        (first: number) =>
          new DataLoader<string, OrderRecord[]>(
            async (customerIds) => {
              const found = await this.store.recentOrdersOfCustomers(customerIds, first);
              // The same orders may be asked for by id later in this request (Order references).
              for (const order of found) orders.prime(order.id, order);
              return groupByKey(customerIds, found, (order) => order.customerId);
            },
            { maxBatchSize: 1000 },
          ),
      ),
    };
  }

  /** An order for its owner or an admin; null when there is no such order, FORBIDDEN for anyone else. */
  async order(viewer: Viewer, id: string, loaders: OrderLoaders): Promise<OrderRecord | null> {
    requireCustomer(viewer);
    const order = await loaders.orders.load(id);
    if (!order) return null;
    requireOwnerOrAdmin(viewer, order.customerId);
    return order;
  }

  /** A customer's newest orders (0–100, default 20), for that customer or an admin. */
  async customerOrders(
    viewer: Viewer,
    customerId: string,
    first: number | null | undefined,
    loaders: OrderLoaders,
  ): Promise<OrderRecord[]> {
    requireOwnerOrAdmin(viewer, customerId);
    const size = pageSize(first, DEFAULT_ORDER_HISTORY_SIZE);
    if (size === 0) return [];
    return loaders.customerOrders(size).load(customerId);
  }

  /** The lines of an order the caller already holds (access was checked when it was read). */
  async linesOf(order: OrderRecord, loaders: OrderLoaders): Promise<OrderLineView[]> {
    const lines = await loaders.lines.load(order.id);
    return lines.map((line) => ({ ...line, currency: order.currency }));
  }

  /** A customer's cart at current catalog prices, for that customer or an admin. */
  async cart(viewer: Viewer, customerId: string, loaders: OrderLoaders): Promise<CartView> {
    requireOwnerOrAdmin(viewer, customerId);
    return this.cartOf(customerId, loaders);
  }

  /**
   * Adds units of a catalog product to the caller's cart; the line must stay within 1 to 99
   * units. BAD_USER_INPUT for an unknown or archived product or a quantity out of range.
   */
  async addToCart({ viewer, loaders }: OrderRequest, input: CartLineInput): Promise<CartView> {
    const { customerId } = requireCustomer(viewer);
    const line = parseCartLineInput(input, 1);
    // One catalog call checks the product and prices the rest of the cart shown after the change.
    const held = await loaders.cartLines.load(customerId);
    await this.requireInCatalog(line.productId, held, loaders);
    return this.changedCart(customerId, await this.store.addToCart(customerId, line.productId, line.quantity, CART_LIMITS), loaders);
  }

  /**
   * Sets how many units of a product the caller's cart holds; 0 removes the line (also of a
   * product the catalog no longer has or sells). BAD_USER_INPUT for an unknown or archived
   * product or a quantity out of range.
   */
  async updateCartLine({ viewer, loaders }: OrderRequest, input: CartLineInput): Promise<CartView> {
    const { customerId } = requireCustomer(viewer);
    const line = parseCartLineInput(input, 0);
    if (line.quantity > 0) await this.requireInCatalog(line.productId, await loaders.cartLines.load(customerId), loaders);
    return this.changedCart(customerId, await this.store.setCartLine(customerId, line.productId, line.quantity, CART_LIMITS), loaders);
  }

  /**
   * Places the caller's cart as a PENDING order, priced from the catalog now, and announces
   * it (OrderPlaced) in the same transaction. The same idempotency key with the same request
   * returns the same order, also when the requests race; with a different request it is
   * IDEMPOTENCY_KEY_REUSED. BAD_USER_INPUT for an empty cart or invalid input; CONFLICT when
   * the cart changed while the order was placed.
   */
  async placeOrder({ viewer, loaders, requestId }: OrderRequest, input: PlaceOrderInput): Promise<OrderRecord> {
    const { customerId } = requireCustomer(viewer);
    const checkout = parsePlaceOrderInput(input);
    // The key is not looked up first: placing answers `key-used` for a key already placed, and
    // only a cart that cannot be placed (emptied by that checkout, say) sends a retry to look.
    const items: CartItem[] = (await loaders.cartLines.load(customerId)).map(({ productId, quantity }) => ({ productId, quantity }));
    if (items.length === 0) {
      return this.earlierCheckoutOr(customerId, checkout, loaders, badUserInput('The cart is empty.', { field: 'cart' }));
    }
    const { lines, missing } = priceCart(items, await this.catalogPrices(items.map((item) => item.productId), loaders), this.currency);
    if (missing.length > 0) {
      const refusal = badUserInput(`Product ${missing[0]} is no longer sold; remove it from the cart.`, { field: 'cart', productIds: missing });
      return this.earlierCheckoutOr(customerId, checkout, loaders, refusal);
    }
    const orderLines: PricedLineInput[] = lines.map((line) => ({
      productId: line.productId,
      quantity: line.quantity,
      unitPriceAmount: line.unitPrice.amount,
    }));
    const total = priceOrder(orderLines, this.currency, 'cart');
    const order: NewOrder = {
      id: randomUUID(),
      customerId,
      status: 'PENDING',
      currency: this.currency,
      totalAmount: total.amount,
      shippingAddress: checkout.shippingAddress,
      placedAt: this.now(),
      lines: orderLines,
    };
    const outcome = await this.store.placeOrder({
      order,
      idempotencyKey: checkout.idempotencyKey,
      requestHash: checkoutHash(checkout, items),
      cart: items,
      events: [orderPlaced(order, checkout.paymentToken, requestId)],
    });
    switch (outcome.kind) {
      case 'placed': {
        this.afterCommit();
        // Not announced live: nobody can watch an order before this call returns its id.
        this.logger?.info({ orderId: order.id, customerId, total: total.amount, requestId }, 'order placed');
        // The order and its lines as written: resolving them reads nothing more.
        loaders.orders.clear(order.id).prime(order.id, outcome.order);
        loaders.lines.clear(order.id).prime(
          order.id,
          order.lines.map((line, index) => ({ orderId: order.id, lineNo: index + 1, ...line })),
        );
        return outcome.order;
      }
      case 'key-used':
        return (await this.earlierCheckout(customerId, checkout, loaders, outcome.record))!;
      case 'cart-changed':
        throw new ShopError('CONFLICT', 'The cart changed while the order was being placed; review it and try again.', {
          field: 'cart',
        });
    }
  }

  /** Ships a CONFIRMED order (admin); OrderShipped tells inventory and payment. */
  async shipOrder(request: OrderRequest, orderId: string): Promise<OrderRecord> {
    requireAdmin(request.viewer);
    return this.act(request, orderId, 'SHIP');
  }

  /** Records that a SHIPPED order arrived (admin). */
  async deliverOrder(request: OrderRequest, orderId: string): Promise<OrderRecord> {
    requireAdmin(request.viewer);
    return this.act(request, orderId, 'DELIVER');
  }

  /** Refunds a SHIPPED or DELIVERED order (admin); OrderRefunded tells payment. */
  async refundOrder(request: OrderRequest, orderId: string): Promise<OrderRecord> {
    requireAdmin(request.viewer);
    return this.act(request, orderId, 'REFUND');
  }

  /**
   * Cancels a PENDING or CONFIRMED order, for its owner or an admin; OrderCancelled tells
   * inventory to release and payment to void.
   */
  async cancelOrder(request: OrderRequest, orderId: string): Promise<OrderRecord> {
    requireCustomer(request.viewer);
    return this.act(request, orderId, 'CANCEL', (order) => requireOwnerOrAdmin(request.viewer, order.customerId));
  }

  /**
   * Handles one delivery of a saga event: applies its lifecycle event if the order still
   * takes it, records the message and announces the change, all in one statement. A
   * redelivery, an event for an order already past that point, or for an unknown order
   * changes nothing and is acknowledged.
   */
  async handleEvent(event: EventEnvelope): Promise<void> {
    const reaction = reactionTo(event);
    const about = { eventId: event.id, type: event.type, requestId: event.requestId };
    if (!reaction) {
      this.logger?.warn(about, 'event of a type the order subgraph does not consume; acknowledged');
      return;
    }
    // The announcement depends on the event alone, so the store applies it in one statement.
    const announced = announcement(reaction.orderId, reaction.event, event, event.requestId);
    const outcome = await this.store.applyEvent(
      reaction.orderId,
      { moves: movesOf(reaction.event), failureReason: failureReasonOf(reaction.event), events: announced ? [announced] : [] },
      { consumer: ORDER_CONSUMER_GROUP, messageId: event.id },
    );
    const log = { ...about, orderId: reaction.orderId };
    switch (outcome.kind) {
      case 'duplicate':
        this.logger?.debug(log, 'event already processed; acknowledged');
        return;
      case 'unchanged':
        if (outcome.order) {
          this.logger?.info({ ...log, status: outcome.order.status }, 'event does not apply to the order as it stands; acknowledged unchanged');
        } else {
          this.logger?.warn(log, 'event names an unknown order; acknowledged');
        }
        return;
      case 'changed':
        this.afterCommit();
        this.logger?.info({ ...log, status: outcome.order.status }, 'order moved on a saga event');
        await this.announce(outcome.order);
    }
  }

  /**
   * The order now, then each time its status changes; never an older status after a newer
   * one. Only its customer or an admin may watch it: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND
   * are decided here, before anything is sent.
   */
  async watchOrder(viewer: Viewer, orderId: string): Promise<AsyncIterableIterator<OrderRecord>> {
    requireCustomer(viewer);
    if (!this.pubsub) throw new ShopError('SUBGRAPH_UNAVAILABLE', 'Live order updates are not available from this service.');
    // A fresh read (one statement), for the order as it is now and for messages that do not carry it.
    const read = async () => (await this.store.ordersByIds([orderId]))[0] ?? null;
    // Listening before reading: a change committed in between arrives as a message, not as a gap.
    const subscription = (await this.pubsub()).subscribe(orderTopic(orderId));
    try {
      await subscription.listening;
      const current = await read();
      if (!current) throw notFound(`Order ${orderId}`);
      requireOwnerOrAdmin(viewer, current.customerId);
      return watchOrderUpdates(subscription, current, read);
    } catch (error) {
      await subscription.return();
      throw error;
    }
  }

  /** Publishes a committed status change to the order's watchers; a failure there never fails the change. */
  private async announce(order: OrderRecord): Promise<void> {
    if (!this.pubsub) return;
    try {
      await (await this.pubsub()).publish(orderTopic(order.id), orderUpdatedMessage(order));
    } catch (err) {
      this.logger?.warn({ err, orderId: order.id }, 'order change not announced to live subscribers');
    }
  }

  /** Whether the store holds any order. */
  hasOrders(): Promise<boolean> {
    return this.store.hasOrders();
  }

  /** The cart as stored, priced now; lines of products the catalog no longer has or no longer sells are left out. */
  private async cartOf(customerId: string, loaders: OrderLoaders): Promise<CartView> {
    const held = await loaders.cartLines.load(customerId);
    const prices = await this.catalogPrices(held.map((line) => line.productId), loaders);
    const { lines, subtotal, missing } = priceCart(held, prices, this.currency);
    if (missing.length > 0) this.logger?.warn({ customerId, missing }, 'cart holds products the catalog no longer has or sells; not shown');
    return { id: customerId, customerId, lines, subtotal };
  }

  /** Catalog prices of products; the products of one tick are one catalog call. */
  private async catalogPrices(productIds: readonly string[], loaders: OrderLoaders): Promise<Map<string, CatalogPrice>> {
    const answers = await loaders.prices.loadMany(productIds);
    const found = new Map<string, CatalogPrice>();
    answers.forEach((answer, index) => {
      if (answer instanceof Error) throw answer;
      if (answer) found.set(productIds[index]!, answer);
    });
    return found;
  }

  /**
   * BAD_USER_INPUT unless the catalog has the product and still sells it (not archived); the
   * held lines are priced in the same call.
   */
  private async requireInCatalog(productId: string, held: readonly CartLineRecord[], loaders: OrderLoaders): Promise<void> {
    const prices = await this.catalogPrices([productId, ...held.map((line) => line.productId)], loaders);
    const product = prices.get(productId);
    if (!product) throw badUserInput(`There is no product ${productId} in the catalog.`, { field: 'input.productId' });
    if (product.archived) {
      throw badUserInput(`Product ${productId} (${product.name}) is archived and no longer sold; it cannot be added to a cart.`, {
        field: 'input.productId',
      });
    }
  }

  /** The cart after a change, as the change answered it, or BAD_USER_INPUT saying which limit the change would have broken. */
  private async changedCart(customerId: string, change: CartChange, loaders: OrderLoaders): Promise<CartView> {
    if (change.outcome !== 'changed') {
      throw change.outcome === 'too-many-units'
        ? badUserInput(`A cart line holds at most ${CART_LIMITS.maxQuantity} units.`, { field: 'input.quantity' })
        : badUserInput(`A cart holds at most ${CART_LIMITS.maxLines} different products.`, { field: 'input.productId' });
    }
    loaders.cartLines.clear(customerId).prime(customerId, change.lines);
    return this.cartOf(customerId, loaders);
  }

  /** The order this key placed already (a retry whose cart that checkout emptied or changed), or `refusal`. */
  private async earlierCheckoutOr(customerId: string, checkout: Checkout, loaders: OrderLoaders, refusal: ShopError): Promise<OrderRecord> {
    const earlier = await this.earlierCheckout(customerId, checkout, loaders);
    if (earlier) return earlier;
    throw refusal;
  }

  /**
   * The order an earlier checkout under this key placed, or null when the key is new.
   * IDEMPOTENCY_KEY_REUSED when that checkout was a different request: the stored hash is
   * checked against this request with the order's own lines as the cart, which is what the
   * earlier checkout emptied.
   */
  private async earlierCheckout(
    customerId: string,
    checkout: Checkout,
    loaders: OrderLoaders,
    known?: IdempotencyRecord,
  ): Promise<OrderRecord | null> {
    const record = known ?? (await this.store.idempotencyRecord(customerId, checkout.idempotencyKey));
    if (!record) return null;
    const [order, lines] = await Promise.all([loaders.orders.load(record.orderId), loaders.lines.load(record.orderId)]);
    if (!order) throw new Error(`idempotency key of customer ${customerId} names order ${record.orderId}, which is missing`);
    if (checkoutHash(checkout, lines) !== record.requestHash) throw requestMismatch();
    return order;
  }

  /** What `event` does to an order, announced; CONFLICT when the lifecycle refuses it. */
  private changeFor(order: OrderRecord, event: OrderEvent, cause?: EventEnvelope, requestId?: string): OrderChange {
    const next = transition(order.status, event);
    const announced = announcement(order.id, event, cause, requestId);
    return { next, failureReason: failureReasonOf(event) ?? order.failureReason, events: announced ? [announced] : [] };
  }

  /** A shop action on one order: NOT_FOUND, then `authorize`, then the lifecycle decides. */
  private async act(
    { loaders, requestId }: OrderRequest,
    orderId: string,
    event: OrderEvent,
    authorize?: (order: OrderRecord) => void,
  ): Promise<OrderRecord> {
    const outcome = await this.store.changeOrder(orderId, (order) => {
      if (!order) throw notFound(`Order ${orderId}`);
      authorize?.(order);
      return this.changeFor(order, event, undefined, requestId);
    });
    if (outcome.kind !== 'changed') throw new Error(`order ${orderId} did not change on ${event}`);
    this.afterCommit();
    this.logger?.info({ orderId, event, status: outcome.order.status, requestId }, 'order changed');
    await this.announce(outcome.order);
    loaders.orders.clear(orderId).prime(orderId, outcome.order);
    return outcome.order;
  }
}
