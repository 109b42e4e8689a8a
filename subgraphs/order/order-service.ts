import DataLoader from 'dataloader';
import { requireCustomer, requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import { badUserInput, notFound, ShopError } from '../../platform/errors';
import { recordLoader } from '../../platform/loaders';
import type { Logger } from '../../platform/logger';
import { pageSize } from '../../platform/pagination';
import { isOrderStatus, transition, type OrderEvent, type OrderStatus } from './order-lifecycle';
import { priceOrder, type PricedLineInput } from './pricing';
import type { NewOrder, OrderLineRecord, OrderRecord, OrderStore, ShippingAddressRecord } from './store/port';

/** Orders a customer's history returns when the client does not say. */
export const DEFAULT_ORDER_HISTORY_SIZE = 20;

/** A stored line with the currency of its order, which every amount on it is in. */
export interface OrderLineView extends OrderLineRecord {
  currency: string;
}

/** An order placed before this store existed (demo data, migrations from another shop system). */
export interface PastOrder {
  id: string;
  customerId: string;
  status: OrderStatus;
  /** ISO 4217 code the unit prices are in. */
  currency: string;
  placedAt: Date;
  shippingAddress: ShippingAddressRecord | null;
  /** Totals are computed from these; a total sent along would be ignored. */
  lines: readonly PricedLineInput[];
}

/** This request's batched readers of orders. */
export interface OrderLoaders {
  orders: DataLoader<string, OrderRecord | null>;
  lines: DataLoader<string, OrderLineRecord[]>;
  /** Customers' newest orders; one loader per page size, since `first` is part of what is asked. */
  customerOrders(first: number): DataLoader<string, OrderRecord[]>;
}

/** Rows grouped under the keys asked for, in key order; keys without rows get []. */
function groupByKey<T>(keys: readonly string[], rows: readonly T[], keyOf: (row: T) => string): T[][] {
  const grouped = new Map<string, T[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const list = grouped.get(key);
    if (list) list.push(row);
    else grouped.set(key, [row]);
  }
  return keys.map((key) => grouped.get(key) ?? []);
}

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.trim().length > 0;

/** The address as stored: only its known fields, each checked. */
function checkShippingAddress(address: ShippingAddressRecord | null, field: string): ShippingAddressRecord | null {
  if (address === null) return null;
  for (const key of ['line1', 'city', 'postalCode'] as const) {
    if (!nonEmpty(address[key])) throw badUserInput(`${field}.${key} must not be empty.`, { field: `${field}.${key}` });
  }
  if (typeof address.country !== 'string' || !/^[A-Z]{2}$/.test(address.country)) {
    throw badUserInput(`${field}.country must be an ISO 3166-1 alpha-2 code such as NL.`, { field: `${field}.country` });
  }
  const optional = (key: 'line2' | 'region') => (nonEmpty(address[key]) ? address[key] : null);
  return {
    line1: address.line1,
    line2: optional('line2'),
    city: address.city,
    region: optional('region'),
    postalCode: address.postalCode,
    country: address.country,
  };
}

/** The order as the store will hold it, with its total priced from its lines; BAD_USER_INPUT names what is wrong. */
function checkPastOrder(order: PastOrder, field: string): NewOrder {
  if (!nonEmpty(order.id)) throw badUserInput(`${field}.id must not be empty.`, { field: `${field}.id` });
  if (!nonEmpty(order.customerId)) throw badUserInput(`${field}.customerId must not be empty.`, { field: `${field}.customerId` });
  if (!isOrderStatus(order.status)) throw badUserInput(`${field}.status is not an order status.`, { field: `${field}.status` });
  if (typeof order.currency !== 'string' || !/^[A-Z]{3}$/.test(order.currency)) {
    throw badUserInput(`${field}.currency must be an ISO 4217 code such as USD.`, { field: `${field}.currency` });
  }
  if (!(order.placedAt instanceof Date) || Number.isNaN(order.placedAt.getTime())) {
    throw badUserInput(`${field}.placedAt must be a valid time.`, { field: `${field}.placedAt` });
  }
  const total = priceOrder(order.lines, order.currency, `${field}.lines`);
  return {
    id: order.id,
    customerId: order.customerId,
    status: order.status,
    currency: order.currency,
    totalAmount: total.amount,
    shippingAddress: checkShippingAddress(order.shippingAddress, `${field}.shippingAddress`),
    placedAt: order.placedAt,
    lines: order.lines.map(({ productId, quantity, unitPriceAmount }) => ({ productId, quantity, unitPriceAmount })),
  };
}

/** The order subgraph's rules: who may read which orders, how orders are priced, and how they change status. */
export class OrderService {
  constructor(
    private readonly store: OrderStore,
    private readonly logger?: Logger,
  ) {}

  loaders(): OrderLoaders {
    const orders = recordLoader((ids) => this.store.ordersByIds(ids), (order) => order.id);
    const histories = new Map<number, DataLoader<string, OrderRecord[]>>();
    return {
      orders,
      lines: new DataLoader(async (ids) => groupByKey(ids, await this.store.linesOfOrders(ids), (line) => line.orderId), {
        maxBatchSize: 1000,
      }),
      customerOrders: (first) => {
        let loader = histories.get(first);
        if (!loader) {
          loader = new DataLoader(
            async (customerIds) => {
              const found = await this.store.recentOrdersOfCustomers(customerIds, first);
              // The same orders may be asked for by id later in this request (Order references).
              for (const order of found) orders.prime(order.id, order);
              return groupByKey(customerIds, found, (order) => order.customerId);
            },
            { maxBatchSize: 1000 },
          );
          histories.set(first, loader);
        }
        return loader;
      },
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

  /**
   * Applies a lifecycle event: the status moves as the lifecycle table says, and only if
   * nobody moved it meanwhile. CONFLICT when the event is not allowed now or a concurrent
   * change won; NOT_FOUND for an unknown order.
   */
  async advanceOrder(orderId: string, event: OrderEvent): Promise<OrderRecord> {
    const [order] = await this.store.ordersByIds([orderId]);
    if (!order) throw notFound(`Order ${orderId}`);
    const next = transition(order.status, event);
    const updated = await this.store.compareAndSetStatus(orderId, order.status, next);
    if (!updated) {
      this.logger?.debug({ orderId, event, expected: order.status }, 'order status changed concurrently');
      throw new ShopError('CONFLICT', `Order ${orderId} changed while ${event} was applied; read it again.`, {
        orderId,
        event,
      });
    }
    return updated;
  }

  /** Whether the store holds any order. */
  hasOrders(): Promise<boolean> {
    return this.store.hasOrders();
  }

  /**
   * Imports orders placed elsewhere, checked by the same line rules as checkout and with
   * totals priced from their lines; all are written or none. Returns how many were written.
   */
  async importPastOrders(list: readonly PastOrder[]): Promise<number> {
    const seen = new Set<string>();
    const checked = list.map((order, index) => {
      const record = checkPastOrder(order, `orders[${index}]`);
      if (seen.has(record.id)) throw badUserInput(`orders[${index}].id ${record.id} appears twice.`, { field: `orders[${index}].id` });
      seen.add(record.id);
      return record;
    });
    await this.store.insertOrders(checked);
    this.logger?.info({ orders: checked.length }, 'imported past orders');
    return checked.length;
  }
}
