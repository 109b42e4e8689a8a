/**
 * The partner API keys one router accepts, in memory, so checking a key costs no store
 * round trip: loaded from the customer subgraph's internal endpoint at start and every
 * `resyncMs`, and changed at once by the announcements on the pub/sub (platform/api-keys.ts).
 * A revocation is refused from the moment its message arrives, and at the latest at the next
 * reload when the message is lost. When keys were last used is collected here and reported
 * to the customer subgraph every `useFlushMs`, one request for all keys.
 */
import {
  ACTIVE_API_KEYS_PATH,
  API_KEY_USE_PATH,
  API_KEYS_TOPIC,
  hashApiKey,
  isActiveApiKey,
  isApiKeyChange,
  type ActiveApiKey,
} from '../platform/api-keys';
import type { Logger } from '../platform/logger';
import type { LiveSubscription, PubSub } from '../platform/pubsub';
import { Timers } from '../platform/periodic';

/** Default pause between reloads, in ms: the longest a lost revocation message goes unnoticed. */
export const DEFAULT_KEY_RESYNC_MS = 4_000;
/** Default pause between reports of key use, in ms. */
export const DEFAULT_USE_FLUSH_MS = 5_000;
/** How long opening waits for the first load before serving anyway, in ms. */
const OPEN_WAIT_MS = 5_000;
/** How long one request to the customer subgraph may take, in ms. */
const REQUEST_TIMEOUT_MS = 3_000;
/** Pause before subscribing again after the subscription failed, in ms. */
const RESUBSCRIBE_MS = 1_000;

export interface KeyRingOptions {
  /** The customer subgraph's base URL (`http://host:port`). */
  customerUrl: string;
  /** Shown to the customer subgraph's internal endpoints. */
  serviceToken: string;
  /** Where key changes are announced. */
  pubsub: PubSub;
  logger: Logger;
  /** Pause between reloads, in ms; default 4000. */
  resyncMs?: number;
  /** Pause between reports of key use, in ms; default 5000. */
  useFlushMs?: number;
}

export class ApiKeyRing {
  /** Active keys by the hash of their secret. */
  private byHash = new Map<string, ActiveApiKey>();
  /** Revoked while this router runs: a reload that read the store before the revocation must not bring them back. */
  private readonly revoked = new Set<string>();
  /** Created by message while a reload was on its way: kept when the reload did not see them yet. */
  private createdDuringLoad: ActiveApiKey[] | undefined;
  private readonly used = new Map<string, number>();
  private subscription: LiveSubscription | undefined;
  private readonly timers: Timers;
  private closing: Promise<void> | undefined;
  private loadedOnce = false;

  constructor(private readonly options: KeyRingOptions) {
    this.timers = new Timers(options.logger);
  }

  /** Subscribes and loads; resolves once loaded, or after a few seconds when the customer subgraph does not answer (it keeps trying). */
  async open(): Promise<this> {
    const listening = this.listen().catch((err: unknown) => this.options.logger.warn({ err }, 'API key announcements not subscribed yet'));
    const loaded = this.load().catch((err: unknown) => this.options.logger.warn({ err }, 'API keys not loaded yet; will retry'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([listening, loaded]), new Promise((resolve) => (timer = setTimeout(resolve, OPEN_WAIT_MS)))]);
    clearTimeout(timer);
    this.timers.every(this.options.resyncMs ?? DEFAULT_KEY_RESYNC_MS, 'reload API keys', () => this.load());
    this.timers.every(this.options.useFlushMs ?? DEFAULT_USE_FLUSH_MS, 'record API key use', () => this.flushUse());
    return this;
  }

  /** The active key with this secret, noting its use; undefined for none, an unknown or a revoked one. */
  verify(secret: string | undefined): ActiveApiKey | undefined {
    if (!secret) return undefined;
    const key = this.byHash.get(hashApiKey(secret));
    if (key) this.used.set(key.id, Date.now());
    return key;
  }

  /** Whether the keys were loaded at least once. */
  get loaded(): boolean {
    return this.loadedOnce;
  }

  /** Stops listening and reloading, and reports the last use. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.timers.clear();
      await this.subscription?.return();
      await this.flushUse().catch((err: unknown) => this.options.logger.warn({ err }, 'last API key use not reported'));
    })());
  }

  /** Replaces the keys with the customer subgraph's list, keeping what messages said meanwhile. */
  private async load(): Promise<void> {
    if (this.closing) return;
    this.createdDuringLoad = [];
    try {
      const response = await this.request(ACTIVE_API_KEYS_PATH, { method: 'GET' });
      const body = (await response.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys) || !body.keys.every(isActiveApiKey)) throw new Error('the customer subgraph sent a malformed key list');
      const next = new Map<string, ActiveApiKey>();
      for (const key of [...body.keys, ...this.createdDuringLoad]) if (!this.revoked.has(key.id)) next.set(key.hash, key);
      this.byHash = next;
      this.loadedOnce = true;
    } finally {
      this.createdDuringLoad = undefined;
    }
  }

  private async flushUse(): Promise<void> {
    if (this.used.size === 0) return;
    const use = Object.fromEntries(this.used);
    this.used.clear();
    try {
      await this.request(API_KEY_USE_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ use }) });
    } catch (error) {
      // Kept for the next report, unless a later use replaced it.
      for (const [id, at] of Object.entries(use)) if ((this.used.get(id) ?? 0) < at) this.used.set(id, at);
      throw error;
    }
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    const response = await fetch(`${this.options.customerUrl}${path}`, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.options.serviceToken}` },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`the customer subgraph answered ${path} with ${response.status}`);
    return response;
  }

  /** Subscribes and applies messages until closed; subscribes again when the subscription fails. */
  private listen(): Promise<void> {
    const subscription = this.options.pubsub.subscribe(API_KEYS_TOPIC);
    this.subscription = subscription;
    void (async () => {
      try {
        for await (const message of subscription) {
          if (!isApiKeyChange(message)) {
            this.options.logger.warn('malformed API key message skipped');
          } else if (message.kind === 'created') {
            this.byHash.set(message.key.hash, message.key);
            this.createdDuringLoad?.push(message.key);
          } else {
            this.revoked.add(message.id);
            for (const [hash, key] of this.byHash) if (key.id === message.id) this.byHash.delete(hash);
          }
        }
      } catch (err) {
        this.options.logger.error({ err }, 'API key announcements subscription failed; subscribing again');
      }
      if (!this.closing) this.timers.after(RESUBSCRIBE_MS, () => void this.listen().catch(() => {}));
    })();
    return subscription.listening;
  }
}
