/**
 * The document step of the router's pipeline (see ARCHITECTURE.md, "The router"): before
 * anything is parsed it decides which text an operation runs, for HTTP (POST and GET) and
 * WebSocket subscriptions alike.
 *
 * - Trusted documents: the apps' manifest (`npm run operations`), loaded at start and swapped
 *   whole on reload. A manifest id runs its body for every client.
 * - Safelist: a client named in the safelist (`apollographql-client-name`) runs only manifest
 *   operations, by id or as their exact body; anything else is PERSISTED_QUERY_NOT_IN_LIST and
 *   an unknown id PERSISTED_QUERY_NOT_FOUND, before any subgraph is asked.
 * - APQ for other clients (Apollo's protocol): an unknown id is PERSISTED_QUERY_NOT_FOUND, an
 *   id with its text registers the text once it validates, an id that is not the text's
 *   SHA-256 is PERSISTED_QUERY_HASH_MISMATCH. Without an APQ store, ids outside the manifest
 *   are PERSISTED_QUERY_NOT_SUPPORTED.
 *
 * Apollo Server's own APQ is off: it would look ids up before any safelist could run, it has
 * no manifest, it answers a mismatch with BAD_REQUEST, and it never sees WebSocket
 * subscriptions. Apollo Server receives the decided text as if the client had sent it.
 */
import fs from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin, HTTPGraphQLRequest } from '@apollo/server';
import type { Logger } from '../platform/logger';
import { ShopError, type ErrorCode } from '../platform/errors';
import type { GraphQLHttpStep } from '../platform/http';
import { clientLabels, persistedOperations } from '../platform/metrics';
import { documentId, parseManifest, type ManifestOperation } from '../schema/manifest';
import type { Config } from '../platform/config';
import { redisConnection } from '../platform/redis';
import { memoryApqStore, redisApqStore, type ApqStore } from './apq-store';
import type { RouterContext } from './context';

/** Who a client says it is (`apollographql-client-name` / `-version`). */
export interface ClientIdentity {
  name?: string;
  version?: string;
}

/** The client a request names in its headers (or WebSocket connectionParams). */
export function clientIdentity(get: (name: string) => unknown): ClientIdentity {
  const name = get('apollographql-client-name');
  const version = get('apollographql-client-version');
  return {
    ...(typeof name === 'string' && name ? { name } : {}),
    ...(typeof version === 'string' && version ? { version } : {}),
  };
}

/** What the document step decided for one operation. */
export interface ResolvedDocument {
  /** The text to parse. */
  query: string;
  /** Named by a manifest id, by an APQ id, or sent as text (to be registered, or by a safelisted client). */
  source: 'manifest' | 'apq' | 'text';
  /** Registers the text under its id; to be called once the operation validated (APQ registration). */
  register?: () => Promise<void>;
}

export interface PersistedDocumentsOptions {
  /** The persisted query manifest; without it no id is trusted. */
  manifestPath?: string;
  /** Client names that may run only manifest operations; default none. */
  safelistClients?: readonly string[];
  /** Where APQ texts are kept; null turns APQ off (manifest ids still work). */
  apq: ApqStore | null;
  /** `max-age` of anonymous persisted queries sent by GET; default 60; 0 never cached. */
  maxAgeSeconds?: number;
  logger: Logger;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** How each refusal is answered over HTTP; NOT_FOUND and NOT_SUPPORTED are 200 as in Apollo's APQ protocol. */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  PERSISTED_QUERY_NOT_FOUND: 200,
  PERSISTED_QUERY_NOT_SUPPORTED: 200,
  PERSISTED_QUERY_NOT_IN_LIST: 400,
  PERSISTED_QUERY_HASH_MISMATCH: 400,
  BAD_REQUEST: 400,
};

const NOT_FOUND = 'PersistedQueryNotFound';

export class PersistedDocuments {
  /** Replaced whole on reload, so a request sees one manifest or the other, never a mix. */
  private manifest: ReadonlyMap<string, ManifestOperation> = new Map();
  private readonly safelist: ReadonlySet<string>;
  private readonly logger: Logger;
  /** What the HTTP step decided for each request, for the context and the plugin. */
  private readonly decided = new WeakMap<IncomingMessage, ResolvedDocument>();

  private constructor(private readonly options: PersistedDocumentsOptions) {
    this.safelist = new Set(options.safelistClients ?? []);
    this.logger = options.logger.child({ component: 'documents' });
  }

  /** Loads the manifest; a manifest that cannot be read stops the start. */
  static async open(options: PersistedDocumentsOptions): Promise<PersistedDocuments> {
    const documents = new PersistedDocuments(options);
    if (options.manifestPath) {
      documents.manifest = parseManifest(await fs.readFile(options.manifestPath, 'utf8'));
      documents.logger.info({ file: options.manifestPath, operations: documents.manifest.size }, 'persisted query manifest loaded');
    }
    return documents;
  }

  /** Operations in the manifest now. */
  get size(): number {
    return this.manifest.size;
  }

  /**
   * Reads the manifest again (SIGHUP) and swaps it in at once; requests in flight keep the one
   * they started with. A file that cannot be read or is not valid keeps the current manifest.
   */
  async reload(): Promise<boolean> {
    const file = this.options.manifestPath;
    if (!file) return false;
    try {
      this.manifest = parseManifest(await fs.readFile(file, 'utf8'));
      this.logger.info({ file, operations: this.manifest.size }, 'persisted query manifest reloaded');
      return true;
    } catch (err) {
      this.logger.error({ err, file, operations: this.manifest.size }, 'persisted query manifest not reloaded; keeping the current one');
      return false;
    }
  }

  /**
   * The text an operation runs, or null when the request names no id and its client may send
   * any text (it runs as sent). Throws a ShopError for a refused request.
   */
  async resolve(request: { query?: unknown; extensions?: unknown }, client: ClientIdentity): Promise<ResolvedDocument | null> {
    const persisted = (request.extensions as { persistedQuery?: unknown } | null | undefined)?.persistedQuery;
    const text = typeof request.query === 'string' && request.query !== '' ? request.query : undefined;
    const safelisted = client.name !== undefined && this.safelist.has(client.name);
    const count = (outcome: 'manifest_hit' | 'apq_hit' | 'miss' | 'registered' | 'refused') =>
      persistedOperations.inc({ ...clientLabels(client.name, client.version), outcome });
    const fromManifest = (id: string): ResolvedDocument | null => {
      const operation = this.manifest.get(id);
      if (!operation) return null;
      count('manifest_hit');
      return { query: operation.body, source: 'manifest' };
    };
    const notInList = () => {
      count('refused');
      return new ShopError('PERSISTED_QUERY_NOT_IN_LIST', `Client ${client.name} may run only the operations of its manifest, sent by id.`);
    };

    if (persisted === undefined || persisted === null) {
      if (!safelisted) return null;
      // A safelisted client's text is admitted when it is exactly a manifest body.
      const known = text === undefined ? null : fromManifest(documentId(text));
      if (!known) throw notInList();
      return known;
    }
    const { version, sha256Hash: id } = persisted as { version?: unknown; sha256Hash?: unknown };
    if (version !== 1) throw new ShopError('BAD_REQUEST', 'Unsupported persisted query version; send version 1.');
    if (typeof id !== 'string' || !SHA256_HEX.test(id)) throw new ShopError('BAD_REQUEST', 'persistedQuery.sha256Hash must be a SHA-256 in lower-case hex.');

    if (text !== undefined) {
      if (documentId(text) !== id) throw new ShopError('PERSISTED_QUERY_HASH_MISMATCH', 'The persisted query hash is not the SHA-256 of the query sent with it.');
      const known = fromManifest(id);
      if (known) return known;
      if (safelisted) throw notInList();
      const apq = this.options.apq;
      if (!apq) throw new ShopError('PERSISTED_QUERY_NOT_SUPPORTED', 'PersistedQueryNotSupported');
      return {
        query: text,
        source: 'text',
        register: async () => {
          await apq.set(id, text);
          count('registered');
        },
      };
    }

    const known = fromManifest(id);
    if (known) return known;
    if (!safelisted && !this.options.apq) {
      count('miss');
      throw new ShopError('PERSISTED_QUERY_NOT_SUPPORTED', 'PersistedQueryNotSupported');
    }
    const registered = safelisted ? undefined : await this.options.apq!.get(id);
    if (registered === undefined) {
      count('miss');
      throw new ShopError('PERSISTED_QUERY_NOT_FOUND', NOT_FOUND);
    }
    count('apq_hit');
    return { query: registered, source: 'apq' };
  }

  /**
   * The step in front of Apollo Server for one HTTP request: the request with the decided text
   * and without `extensions.persistedQuery`, or the refusal to send.
   */
  async http(request: HTTPGraphQLRequest, req: IncomingMessage): Promise<GraphQLHttpStep> {
    const client = clientIdentity((name) => request.headers.get(name));
    const fields = operationFields(request);
    // Malformed requests (not JSON, batches) are Apollo Server's to refuse.
    if (!fields) return { request };
    let resolved: ResolvedDocument | null;
    try {
      resolved = await this.resolve(fields, client);
    } catch (error) {
      if (!(error instanceof ShopError)) throw error;
      return {
        answer: {
          status: HTTP_STATUS[error.code] ?? 400,
          // A refusal is never cached: the next request may register the text or carry another manifest.
          headers: { 'cache-control': 'private, no-store' },
          body: { errors: [{ message: error.message, extensions: { code: error.code } }] },
        },
      };
    }
    if (!resolved) return { request };
    this.decided.set(req, resolved);
    return { request: withDocument(request, resolved.query) };
  }

  /** What the HTTP step decided for this request, for its context. */
  decidedFor(req: IncomingMessage): ResolvedDocument | undefined {
    return this.decided.get(req);
  }

  /**
   * Registers APQ texts once their operation validated (as Apollo Server does: nothing that does
   * not validate is stored), and sets the caching headers of persisted GET queries: public for
   * a query without errors sent without a token, so a CDN may keep it; private otherwise.
   */
  plugin(): ApolloServerPlugin<RouterContext> {
    const maxAge = this.options.maxAgeSeconds ?? 60;
    const logger = this.logger;
    return {
      async requestDidStart({ contextValue }) {
        const document = contextValue.document;
        if (!document) return;
        return {
          async didResolveOperation() {
            document.register?.().catch((err: unknown) => logger.warn({ err }, 'APQ registration failed'));
          },
          async willSendResponse({ request, response, operation }) {
            const http = request.http;
            if (!http || http.method !== 'GET' || document.source === 'text') return;
            const cacheable =
              maxAge > 0 &&
              operation?.operation === 'query' &&
              !http.headers.get('authorization') &&
              response.body.kind === 'single' &&
              !response.body.singleResult.errors;
            // Written so that Apollo Server's cache-control plugin leaves it alone (it keeps values it does not produce).
            response.http.headers.set('cache-control', cacheable ? `public, max-age=${maxAge}` : 'private, no-store');
            if (cacheable) {
              // A safelisted client must not be served an APQ text another client's request put in the CDN.
              const vary = response.http.headers.get('vary');
              response.http.headers.set('vary', vary ? `${vary}, apollographql-client-name` : 'apollographql-client-name');
            }
          },
        };
      },
    };
  }

  async close(): Promise<void> {
    await this.options.apq?.close();
  }
}

/** The router's settings for persisted operations. */
export interface DocumentSettings {
  /** The persisted query manifest, reloaded on SIGHUP; default none: no id is trusted. */
  manifestPath?: string;
  /** Client names that may run only manifest operations; default none. */
  safelistClients?: readonly string[];
  /** APQ for other clients; default on. */
  apq?: boolean;
  /** How long a registered APQ text is kept, in seconds; default 86400. */
  apqTtlSeconds?: number;
  /** Bytes of APQ texts kept in memory when there is no Redis; default 16 MiB. */
  apqCacheBytes?: number;
  /** Redis for APQ texts, shared by every replica; default none: each router keeps its own. */
  redisUrl?: string;
  /** Prefix of the APQ keys in Redis (`<prefix>:apq:<id>`); default `shop`. */
  redisKeyPrefix?: string;
  /** `max-age` of anonymous persisted queries sent by GET, in seconds; default 60. */
  maxAgeSeconds?: number;
}

/** The persisted-operation settings the configuration sets. */
export function documentSettingsFrom(config: Config): DocumentSettings {
  return {
    manifestPath: config.PERSISTED_QUERIES_PATH,
    safelistClients: config.SAFELIST_CLIENTS,
    apq: config.APQ,
    apqTtlSeconds: config.APQ_TTL_SECONDS,
    apqCacheBytes: config.APQ_CACHE_BYTES,
    ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
    redisKeyPrefix: config.EVENT_STREAM_PREFIX,
    maxAgeSeconds: config.PERSISTED_QUERY_MAX_AGE_SECONDS,
  };
}

/** The document step with its manifest loaded and its APQ store open (closed again if the manifest cannot be read). */
export async function openPersistedDocuments(settings: DocumentSettings, logger: Logger): Promise<PersistedDocuments> {
  const ttlSeconds = settings.apqTtlSeconds ?? 86_400;
  let apq: ApqStore | null = null;
  if (settings.apq ?? true) {
    apq = settings.redisUrl
      ? redisApqStore(redisConnection(settings.redisUrl, 'router-apq', logger, 'apq'), { keyPrefix: settings.redisKeyPrefix ?? 'shop', ttlSeconds, logger })
      : memoryApqStore({ ttlSeconds, ...(settings.apqCacheBytes ? { maxBytes: settings.apqCacheBytes } : {}) });
  }
  try {
    return await PersistedDocuments.open({
      ...(settings.manifestPath ? { manifestPath: settings.manifestPath } : {}),
      safelistClients: settings.safelistClients ?? [],
      apq,
      ...(settings.maxAgeSeconds !== undefined ? { maxAgeSeconds: settings.maxAgeSeconds } : {}),
      logger,
    });
  } catch (error) {
    await apq?.close();
    throw error;
  }
}

/** The operation's `query` and `extensions` from a GET query string or a JSON POST body; null when neither applies. */
function operationFields(request: HTTPGraphQLRequest): { query?: unknown; extensions?: unknown } | null {
  if (request.method === 'GET') {
    const params = new URLSearchParams(request.search);
    const extensions = params.get('extensions');
    if (extensions === null) return { query: params.get('query') ?? undefined };
    try {
      return { query: params.get('query') ?? undefined, extensions: JSON.parse(extensions) };
    } catch {
      return null;
    }
  }
  const body = request.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  return body as { query?: unknown; extensions?: unknown };
}

/** The request as Apollo Server is to see it: the decided text, and no `persistedQuery` for it to act on. */
function withDocument(request: HTTPGraphQLRequest, query: string): HTTPGraphQLRequest {
  const strip = (extensions: unknown): Record<string, unknown> | undefined => {
    if (!extensions || typeof extensions !== 'object') return undefined;
    const { persistedQuery: _persisted, ...rest } = extensions as Record<string, unknown>;
    return Object.keys(rest).length > 0 ? rest : undefined;
  };
  if (request.method === 'GET') {
    const params = new URLSearchParams(request.search);
    params.set('query', query);
    const extensions = params.get('extensions');
    const rest = extensions === null ? undefined : strip(JSON.parse(extensions));
    if (rest) params.set('extensions', JSON.stringify(rest));
    else params.delete('extensions');
    return { ...request, search: `?${params}` };
  }
  const { extensions, ...body } = request.body as Record<string, unknown>;
  const rest = strip(extensions);
  return { ...request, body: { ...body, query, ...(rest ? { extensions: rest } : {}) } };
}
