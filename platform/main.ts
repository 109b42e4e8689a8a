import path from 'node:path';
import type { SubgraphName } from '../schema/subgraphs';
import { AccessTokens, loadTokenKeys } from './auth';
import { ConfigError, loadConfig, type Config } from './config';
import { EmbeddedPostgres } from './db';
import { createLogger, type Logger } from './logger';
import { metricsAccess } from './metrics';
import { openEventBus } from './event-bus';
import type { EventBus } from './events';
import { openPubSub, type PubSub } from './pubsub';
import { revocationsOn } from './revocations';
import { PeerDirectory, startSubgraph, type SeedOptions, type SubgraphDefinition, type SubgraphDeps, type SubgraphFactory } from './subgraph';
import { FULL_SIZE, generateDemoShop, SMALL_SIZE } from './demo-shop';
import type { RequestContext } from './context';

/** What ends a process: calls `stop` with a reason (a signal's name) whenever it should stop. */
export type StopTrigger = (stop: (reason: string) => void) => void;

/** SIGTERM and SIGINT: how an orchestrator or a terminal stops a process. */
export const onTerminationSignals: StopTrigger = (stop) => {
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
};

/**
 * Runs a process: config → logger → `start` (stores, servers, listen); on SIGTERM or
 * SIGINT (or what `stopOn` says) its `stop` runs exactly once and the process exits 0.
 * A bad configuration lists every problem and exits 1.
 */
export async function runProcess(
  name: string,
  start: (config: Config, logger: Logger) => Promise<{ stop(): Promise<void> }>,
  stopOn: StopTrigger = onTerminationSignals,
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.logPretty }).child({ process: name });
  // Handlers go in before start: a signal during a long first start (seeding) waits
  // for start to finish its transaction, then stops cleanly instead of dying mid-write.
  let starting: Promise<{ stop(): Promise<void> }> | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second signal while stopping: the operator wants out now.
      logger.warn({ signal }, 'second signal while shutting down; exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void (async () => {
      try {
        const running = await starting!;
        await running.stop();
        process.exit(0);
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    })();
  };
  stopOn(shutdown);
  starting = start(config, logger);
  try {
    await starting;
  } catch (error) {
    logger.fatal({ err: error }, 'failed to start');
    logger.flush?.();
    setTimeout(() => process.exit(1), 100);
  }
}

/** Access tokens with the configured keys: every process verifies, the customer subgraph also issues. */
export async function accessTokens(config: Config): Promise<AccessTokens> {
  return new AccessTokens(await loadTokenKeys(config), {
    issuer: config.JWT_ISSUER,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
}

/** The shared pieces every subgraph of a process stands on. */
export async function subgraphDeps(config: Config, logger: Logger): Promise<SubgraphDeps & { release(): Promise<void> }> {
  const tokens = await accessTokens(config);
  let embedded: Promise<EmbeddedPostgres> | undefined;
  let events: Promise<EventBus> | undefined;
  const live = openPubSub(config, logger);
  const pubsub: Promise<PubSub> = Promise.resolve(live);
  // Every process refuses the tokens of ended sessions, on HTTP and WebSocket alike.
  const revocations = await revocationsOn(config, logger, live);
  tokens.useRevocations(revocations);
  return {
    config,
    logger,
    tokens,
    peers: new PeerDirectory(config),
    embedded: () => (embedded ??= EmbeddedPostgres.acquire(path.join(config.DATA_DIR, 'pglite'))),
    events: () => (events ??= Promise.resolve(openEventBus(config, logger))),
    pubsub: () => pubsub,
    release: async () => {
      await revocations.close();
      await live.close();
      if (events) await (await events).close();
      if (embedded) await (await embedded).release();
    },
  };
}

const seedOptions = new WeakMap<Config, SeedOptions>();

/**
 * The demo shop every process seeds its empty stores with, unless SEED_DEMO is off;
 * generated once per configuration, however many parts of the process ask.
 */
export function demoSeedOptions(config: Config): SeedOptions | undefined {
  if (!config.SEED_DEMO) return undefined;
  let options = seedOptions.get(config);
  if (!options) {
    const size = config.DEMO_SIZE === 'small' ? SMALL_SIZE : FULL_SIZE;
    options = { shop: generateDemoShop(size, config.SHOP_CURRENCY), password: config.DEMO_PASSWORD, nodeEnv: config.NODE_ENV };
    seedOptions.set(config, options);
  }
  return options;
}

/** Seeds a subgraph's empty store; logs what it did. */
export async function seedSubgraph(definition: SubgraphDefinition<RequestContext>, options: SeedOptions, logger: Logger): Promise<void> {
  if (!definition.seed) return;
  const began = Date.now();
  if (await definition.seed(options)) logger.info({ subgraph: definition.name, ms: Date.now() - began }, 'seeded demo data');
}

/** `subgraphs/<name>/main.ts`: one subgraph alone in its process, as its container runs it. */
export function runSubgraph(name: SubgraphName, factory: SubgraphFactory): void {
  void runProcess(name, async (config, logger) => {
    const deps = await subgraphDeps(config, logger);
    const definition = await factory(deps);
    const seed = demoSeedOptions(config);
    if (seed) await seedSubgraph(definition, seed, logger);
    const service = await startSubgraph(definition, {
      host: config.HOST,
      port: config.subgraphs[name].port,
      tokens: deps.tokens,
      logger,
      maxBodyBytes: config.MAX_BODY_BYTES,
      metrics: metricsAccess(config),
      graceMs: config.SHUTDOWN_GRACE_MS,
    });
    return {
      stop: async () => {
        await service.stop();
        await deps.release();
      },
    };
  });
}
