/**
 * Live updates for GraphQL subscriptions: whoever changes an order or a stock level
 * publishes to its topic, and every subscriber of that topic, on any replica, hears it.
 * Fire and forget: a message reaches the subscribers present when it is published and
 * is not kept for anyone who subscribes later (the domain events carry what must not be lost).
 */
export interface PubSub {
  /**
   * Sends `message` to every current subscriber of `topic`. Messages travel as JSON, so
   * subscribers receive its JSON form (a Date arrives as its ISO string); a message JSON
   * cannot encode (undefined, a BigInt, a cycle) is refused.
   */
  publish(topic: string, message: unknown): Promise<void>;
  /**
   * The messages published to `topic` from now on, in each publisher's order. Ending the
   * iteration (`break` in `for await`, or `return()`) unsubscribes, so a GraphQL
   * subscription resolver can return it as it is.
   */
  subscribe(topic: string): LiveSubscription;
  /** Subscriptions to `topic` open in this instance. */
  subscriberCount(topic: string): number;
  /** Messages dropped from full subscriber buffers since this instance opened. */
  droppedCount(): number;
  /** Whether messages can be published and received now. */
  ready(): Promise<boolean>;
  /** Ends every open subscription and disconnects. Idempotent. */
  close(): Promise<void>;
}

/** One subscriber's view of a topic. */
export interface LiveSubscription extends AsyncIterableIterator<unknown> {
  readonly topic: string;
  /**
   * Resolves once messages published from any instance reach this subscription (on Redis,
   * once the server has confirmed the SUBSCRIBE); rejects, and the iteration fails with
   * the same error, when the topic cannot be subscribed to. A publish on the same
   * instance waits for it by itself; a resolver that must not miss a message published
   * elsewhere right after it returns awaits it first.
   */
  readonly listening: Promise<void>;
  /** Messages this subscriber lost because its buffer was full when they arrived. */
  readonly dropped: number;
  /** Unsubscribes; a waiting `next()` resolves done and what was buffered is discarded. */
  return(): Promise<IteratorResult<unknown>>;
  /** Unsubscribes like `return`, and rejects with `error`. */
  throw(error?: unknown): Promise<IteratorResult<unknown>>;
}

export interface PubSubOptions {
  /**
   * Messages held for one subscriber that has not taken them yet; when full the oldest is
   * dropped, so a slow client costs bounded memory. Default 1000.
   */
  bufferSize?: number;
}

export const DEFAULT_BUFFER_SIZE = 1000;

/** The topic of one order's status changes. */
export function orderTopic(orderId: string): string {
  return `${ORDER_TOPIC_PREFIX}${orderId}`;
}

/** What every order's topic starts with. */
export const ORDER_TOPIC_PREFIX = 'order:';

/** The topic of one product's stock level changes. */
export function stockTopic(productId: string): string {
  return `stock:${productId}`;
}

/**
 * The topic product-search announces changed products on (price, archiving, any field),
 * once the change is committed: every cache of catalog data, in any subgraph, drops them.
 */
export const PRODUCT_INVALIDATION_TOPIC = 'product-cache:invalidate';

/** A message on PRODUCT_INVALIDATION_TOPIC: the products changed, each with the version the change made. */
export interface ProductInvalidation {
  products: { id: string; version: number }[];
}

export function isProductInvalidation(message: unknown): message is ProductInvalidation {
  const products = (message as Partial<ProductInvalidation> | null)?.products;
  return Array.isArray(products) && products.every((p) => typeof p?.id === 'string' && typeof p.version === 'number');
}
