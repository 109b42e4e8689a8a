import { randomUUID } from 'node:crypto';
import { API_KEYS_TOPIC, hashApiKey, newApiKeySecret, type ActiveApiKey, type ApiKeyChange } from '../../platform/api-keys';
import { requireAdmin, type Viewer } from '../../platform/auth';
import { badUserInput, notFound } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import type { PubSub } from '../../platform/pubsub';
import type { ApiKeyRecord, CustomerStore, StoredApiKey } from './store/port';

/** Cost points a key's bucket holds unless the admin says otherwise (Shopify's figure). */
export const DEFAULT_MAXIMUM_AVAILABLE = 1000;
/** Cost points a key's bucket regains per second unless the admin says otherwise. */
export const DEFAULT_RESTORE_RATE = 50;
/** Characters of the secret the key's record shows: the `sk_live_` prefix and four more. */
const SHOWN_PREFIX_LENGTH = 12;
const NAME_MAX = 100;
const MAXIMUM_AVAILABLE_MAX = 1_000_000;

/** A key just created: its record, and its secret, shown this once. */
export interface CreatedApiKey {
  apiKey: ApiKeyRecord;
  secret: string;
}

function activeKey(key: StoredApiKey): ActiveApiKey {
  return { id: key.id, name: key.name, hash: key.secretHash, maximumAvailable: key.maximumAvailable, restoreRate: key.restoreRate };
}

/**
 * Partner API keys: admins create, list and revoke them; routers read the active ones and
 * report their use. A change is announced on the pub/sub (when there is one) so routers act
 * on it at once; routers that miss it catch up at their next reload.
 */
export class ApiKeyService {
  constructor(
    private readonly store: CustomerStore,
    private readonly options: {
      /** Where changes are announced; without it routers learn of them at their next reload. */
      announce?: Pick<PubSub, 'publish'>;
      logger: Logger;
      /** The clock; default `Date.now`. */
      now?: () => number;
    },
  ) {}

  async create(viewer: Viewer, input: { name: string; maximumAvailable?: number | null; restoreRate?: number | null }): Promise<CreatedApiKey> {
    requireAdmin(viewer);
    const name = input.name.trim();
    if (name.length < 1 || name.length > NAME_MAX) throw badUserInput(`The name must have 1 to ${NAME_MAX} characters.`, { field: 'name' });
    const maximumAvailable = input.maximumAvailable ?? DEFAULT_MAXIMUM_AVAILABLE;
    if (!Number.isInteger(maximumAvailable) || maximumAvailable < 1 || maximumAvailable > MAXIMUM_AVAILABLE_MAX) {
      throw badUserInput(`maximumAvailable must be a whole number from 1 to ${MAXIMUM_AVAILABLE_MAX}.`, { field: 'maximumAvailable' });
    }
    const restoreRate = input.restoreRate ?? DEFAULT_RESTORE_RATE;
    if (!Number.isInteger(restoreRate) || restoreRate < 1 || restoreRate > maximumAvailable) {
      throw badUserInput('restoreRate must be a whole number from 1 to maximumAvailable.', { field: 'restoreRate' });
    }
    const secret = newApiKeySecret();
    const stored: StoredApiKey = {
      id: randomUUID(),
      name,
      prefix: secret.slice(0, SHOWN_PREFIX_LENGTH),
      secretHash: hashApiKey(secret),
      maximumAvailable,
      restoreRate,
      createdAt: new Date(this.now()),
      lastUsedAt: null,
      revokedAt: null,
    };
    const apiKey = await this.store.createApiKey(stored);
    await this.announce({ kind: 'created', key: activeKey(stored) });
    return { apiKey, secret };
  }

  async list(viewer: Viewer): Promise<ApiKeyRecord[]> {
    requireAdmin(viewer);
    return this.store.listApiKeys();
  }

  /** Revokes a key; every router refuses it within seconds. Revoking it again changes nothing and is announced again. */
  async revoke(viewer: Viewer, id: string): Promise<ApiKeyRecord> {
    requireAdmin(viewer);
    const revoked = await this.store.revokeApiKey(id, new Date(this.now()));
    if (!revoked) throw notFound('API key');
    await this.announce({ kind: 'revoked', id });
    return revoked;
  }

  /** The keys routers accept (internal endpoint). */
  async active(): Promise<ActiveApiKey[]> {
    return (await this.store.activeApiKeys()).map(activeKey);
  }

  /** Records what routers report of key use (internal endpoint). */
  recordUse(use: Record<string, number>): Promise<void> {
    return this.store.recordApiKeyUse(Object.entries(use).map(([id, at]) => ({ id, at: new Date(at) })));
  }

  private async announce(change: ApiKeyChange): Promise<void> {
    if (!this.options.announce) return;
    // The store has the change: a message that does not go out is caught up by the routers' reload.
    await this.options.announce.publish(API_KEYS_TOPIC, change).catch((err: unknown) => {
      this.options.logger.warn({ err, change: change.kind }, 'API key change not announced; routers pick it up at their next reload');
    });
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
