import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from './logger';
import { STORE_RETRY_AFTER_SECONDS, isStoreUnavailable } from './store-unavailable';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * Every error code the graph can return in `extensions.code`, with what it means
 * and how loudly it is logged. Clients may rely on these names.
 */
export const ERROR_CODES = {
  BAD_USER_INPUT: { level: 'info', description: 'An argument or input field is invalid; the message says which and why.' },
  BAD_REQUEST: { level: 'info', description: 'The HTTP request itself is malformed (body not JSON, too large, wrong method).' },
  GRAPHQL_PARSE_FAILED: { level: 'info', description: 'The operation is not valid GraphQL syntax.' },
  GRAPHQL_VALIDATION_FAILED: { level: 'info', description: 'The operation does not match the schema.' },
  OPERATION_RESOLUTION_FAILURE: { level: 'info', description: 'The operation name does not match an operation in the document.' },
  PERSISTED_QUERY_NOT_FOUND: { level: 'debug', description: 'The persisted query hash is unknown; send the full query.' },
  PERSISTED_QUERY_NOT_SUPPORTED: { level: 'info', description: 'Persisted queries are not enabled on this endpoint.' },
  PERSISTED_QUERY_NOT_IN_LIST: {
    level: 'info',
    description: 'This client may run only the operations of its manifest, sent by id; the operation sent is not one of them.',
  },
  PERSISTED_QUERY_HASH_MISMATCH: { level: 'info', description: 'The persisted query hash is not the SHA-256 of the query text sent with it.' },
  UNAUTHENTICATED: { level: 'info', description: 'No valid access token was sent, or the credentials are wrong.' },
  FORBIDDEN: { level: 'warn', description: 'The caller is authenticated but may not see or change this resource.' },
  NOT_FOUND: { level: 'info', description: 'A resource a mutation refers to does not exist.' },
  EMAIL_ALREADY_REGISTERED: { level: 'info', description: 'An account with this email address already exists.' },
  CONFLICT: { level: 'info', description: 'The change conflicts with the current state of the resource.' },
  IDEMPOTENCY_KEY_REUSED: { level: 'warn', description: 'This idempotency key was already used with a different request.' },
  THROTTLED: { level: 'info', description: 'Too many attempts; try again after `extensions.retryAfterSeconds`.' },
  SUBSCRIPTION_LIMIT: { level: 'info', description: 'This connection holds as many subscriptions as it may; complete one first.' },
  EVENT_TOO_LARGE: { level: 'warn', description: 'A subscription event exceeded the size limit and was not delivered; select fewer fields.' },
  MAX_DEPTH_LIMIT: { level: 'info', description: 'The operation nests fields deeper than the router allows; `limit` and `measured` say by how much.' },
  MAX_ALIASES_LIMIT: { level: 'info', description: 'The operation uses more aliases than the router allows (fragments expanded).' },
  MAX_ROOT_FIELDS_LIMIT: { level: 'info', description: 'The operation selects more root fields than the router allows.' },
  MAX_DIRECTIVES_LIMIT: { level: 'info', description: 'The operation uses more directives than the router allows (fragments expanded).' },
  MAX_TOKENS_LIMIT: { level: 'info', description: 'The document has more lexical tokens than the router parses.' },
  COST_ESTIMATED_TOO_EXPENSIVE: {
    level: 'info',
    description: 'The operation’s estimated cost is above the maximum; `requestedQueryCost` and `maxCost` say by how much.',
  },
  SERVICE_UNAVAILABLE: { level: 'warn', description: 'A store or dependency is down for a moment; retry after `extensions.retryAfterSeconds`.' },
  SUBGRAPH_UNAVAILABLE: { level: 'error', description: 'A domain service did not answer; the fields it owns are null.' },
  INTERNAL_SERVER_ERROR: { level: 'error', description: 'An unexpected failure; details are in the server log under the request id.' },
} as const satisfies Record<string, { level: Level; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** An error the shop raises on purpose: its message is safe to show and its code is in the registry. */
export class ShopError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message, { extensions: { ...details, code } });
    this.code = code;
    this.name = 'ShopError';
  }
}

export const badUserInput = (message: string, details?: Record<string, unknown>) =>
  new ShopError('BAD_USER_INPUT', message, details);
export const unauthenticated = (message = 'Sign in to do this.') => new ShopError('UNAUTHENTICATED', message);
export const forbidden = (message = 'You may not access this resource.') => new ShopError('FORBIDDEN', message);
export const notFound = (what: string) => new ShopError('NOT_FOUND', `${what} was not found.`);

const MASKED_MESSAGE = 'Internal server error';
const UNAVAILABLE_MESSAGE = 'The service is unavailable for a moment; retry shortly.';

/**
 * Apollo `formatError`: known codes pass with their message; a store that cannot be
 * reached becomes SERVICE_UNAVAILABLE with a retry hint; anything else is logged
 * whole and masked, so no internals or stack traces reach a client.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const code = formatted.extensions?.code;
    if (!(original instanceof ShopError) && (!isErrorCode(code) || code === 'INTERNAL_SERVER_ERROR') && isStoreUnavailable(original)) {
      logger.warn({ err: original, path: formatted.path }, 'store unavailable');
      return {
        message: UNAVAILABLE_MESSAGE,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
      };
    }
    if (isErrorCode(code) && code !== 'INTERNAL_SERVER_ERROR') {
      const { stacktrace: _stack, exception: _exception, ...extensions } = formatted.extensions ?? {};
      const level = ERROR_CODES[code].level;
      if (level === 'warn' || level === 'error') logger[level]({ code, path: formatted.path, msg: formatted.message }, 'request error');
      return { ...formatted, extensions: { ...extensions, code } };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error');
    return {
      message: MASKED_MESSAGE,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
