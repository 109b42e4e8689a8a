/**
 * The router started from the configuration as deployed: access tokens that refuse ended
 * sessions, the edge's limits, subscription limits, metrics and the executor's settings.
 * `router/main.ts` starts it so in each worker; benchmarks start it in one process of their own.
 */
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { accessTokens } from '../platform/main';
import { metricsAccess } from '../platform/metrics';
import { openPubSub, type PubSub } from '../platform/pubsub';
import { revocationsOn } from '../platform/revocations';
import type { PartnerSettings } from './partner';
import { edgeSettingsFrom, executorSettingsFrom, readSupergraph, startRouter, subscriptionLimitsFrom, type RunningRouter } from './router';

export interface ConfiguredRouterOptions {
  /** The supergraph file; default SUPERGRAPH_PATH. */
  supergraph?: string;
  /** Default HOST. */
  host?: string;
  port: number;
  responseHeaders?: Record<string, string>;
  /** The partner endpoint, given the process's pub/sub; none without it. */
  partners?: (pubsub: PubSub) => PartnerSettings;
}

/** Starts the router from `config`; `stop` stops it and closes what it opened. */
export async function startConfiguredRouter(
  config: Config,
  logger: Logger,
  options: ConfiguredRouterOptions,
): Promise<{ router: RunningRouter; stop(): Promise<void> }> {
  // Access tokens of ended sessions are refused here too, as soon as the customer subgraph announces the end.
  const tokens = await accessTokens(config);
  // One pub/sub for ended sessions and partner API key changes.
  const pubsub = openPubSub(config, logger);
  const revocations = await revocationsOn(config, logger, pubsub, { ownsPubSub: true });
  tokens.useRevocations(revocations);
  const router = await startRouter({
    supergraphSdl: readSupergraph(options.supergraph ?? config.SUPERGRAPH_PATH),
    host: options.host ?? config.HOST,
    port: options.port,
    logger,
    tokens,
    maxBodyBytes: config.MAX_BODY_BYTES,
    metrics: metricsAccess(config),
    graceMs: config.SHUTDOWN_GRACE_MS,
    subscriptions: subscriptionLimitsFrom(config),
    ...(options.responseHeaders ? { responseHeaders: options.responseHeaders } : {}),
    ...(options.partners ? { partners: options.partners(pubsub) } : {}),
    ...edgeSettingsFrom(config),
    ...executorSettingsFrom(config),
  }).catch(async (error: unknown) => {
    await revocations.close();
    throw error;
  });
  return {
    router,
    stop: async () => {
      await router.stop();
      await revocations.close();
    },
  };
}
