/**
 * Whether a failure means "the store is down for a moment" (a restart, a failover, a
 * dropped connection) rather than a fault in the request or the code: such a failure
 * is answered with SERVICE_UNAVAILABLE and a hint to retry, and an event handler that
 * meets it waits for the store instead of spending a delivery.
 */

/** How long a client should wait before retrying a request that met a store outage, in s. */
export const STORE_RETRY_AFTER_SECONDS = 1;

/** Codes postgres-js and Node's sockets give a connection that failed, closed or timed out. */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** PostgreSQL SQLSTATEs of a server that is stopping, starting or out of connections. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping (or a failover terminated the session)
  '57P02', // crash_shutdown: another backend crashed and the server is resetting
  '57P03', // cannot_connect_now: the server is starting up or in recovery
  '57014', // query_canceled: statement_timeout, most often a server that stalls
  '53300', // too_many_connections: replicas reconnecting at once after a restart
]);

/** SQLSTATE class 08: connection exception. */
const CONNECTION_EXCEPTION = /^08[0-9A-Z]{3}$/;

/**
 * What the MongoDB driver (`mongodb`) names an error when no server could be selected, a
 * connection failed, closed or timed out, or its pool was cleared after one did.
 */
const MONGO_UNAVAILABLE_NAMES = new Set([
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoPoolClearedError',
  'PoolClearedOnNetworkError',
  'MongoWaitQueueTimeoutError',
]);

/** MongoDB server codes of a member that is stepping down, shutting down, recovering or unreachable. */
const MONGO_UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired: an operation that ran out of time, most often a server that stalls
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10058, // LegacyNotPrimary
  10107, // NotWritablePrimary: a failover is electing another primary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** Whether `link` is a MongoDB driver error saying the server cannot be reached or serve right now. */
function isMongoUnavailable(link: Record<string, unknown>): boolean {
  const name = link.name;
  if (typeof name !== 'string') return false;
  if (MONGO_UNAVAILABLE_NAMES.has(name)) return true;
  // A server error's code is a number; only the driver's own errors are read that way.
  return name.startsWith('Mongo') && typeof link.code === 'number' && MONGO_UNAVAILABLE_CODES.has(link.code);
}

/** What the Elasticsearch client (`@elastic/elasticsearch`) names a cluster it could not reach or that did not answer in time. */
const ELASTICSEARCH_UNAVAILABLE_NAMES = new Set(['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError']);

/** HTTP statuses of a cluster (or the proxy before it) that cannot serve right now: no master, no shard copy. */
const ELASTICSEARCH_UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

/**
 * Whether `link` is an Elasticsearch client error saying the cluster cannot be reached or serve
 * right now. The client's errors carry `options` and the request's `meta` (set, if undefined),
 * which tells them from others of the same name (a DOMException `TimeoutError` has neither).
 */
function isElasticsearchUnavailable(link: Record<string, unknown>): boolean {
  if (typeof link.name !== 'string' || !('meta' in link) || !('options' in link)) return false;
  if (ELASTICSEARCH_UNAVAILABLE_NAMES.has(link.name)) return true;
  const status = (link.meta as { statusCode?: unknown } | undefined)?.statusCode;
  return link.name === 'ResponseError' && typeof status === 'number' && ELASTICSEARCH_UNAVAILABLE_STATUSES.has(status);
}

/** The errors to look at: the error, what it wraps (`cause`, `originalError`) and what it aggregates. */
function* chain(error: unknown): Generator<Record<string, unknown>> {
  const seen = new Set<unknown>();
  const pending: unknown[] = [error];
  while (pending.length > 0 && seen.size < 20) {
    const next = pending.shift();
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    seen.add(next);
    const record = next as Record<string, unknown>;
    yield record;
    // drizzle wraps the driver's error in `cause`; GraphQL errors keep it in `originalError`.
    pending.push(record.cause, record.originalError);
    // A connect to every address of a host fails as one AggregateError.
    if (Array.isArray(record.errors)) pending.push(...record.errors);
  }
}

/** True when `error`, or anything it wraps, says the store cannot be reached right now. */
export function isStoreUnavailable(error: unknown): boolean {
  for (const link of chain(error)) {
    if (isMongoUnavailable(link)) return true;
    if (isElasticsearchUnavailable(link)) return true;
    const code = link.code;
    if (typeof code !== 'string') continue;
    if (CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || CONNECTION_EXCEPTION.test(code)) return true;
  }
  return false;
}

/**
 * Resolves `check`'s answer, or false once `ms` have passed (a late rejection is ignored):
 * a readiness probe must answer while a store is down, not wait for it.
 */
export function answersWithin(check: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref?.();
  });
  return Promise.race([check.catch(() => false), late]).finally(() => clearTimeout(timer));
}
