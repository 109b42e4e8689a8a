/**
 * docker-compose.yml against the code: a deployment file drifts silently (a variable the
 * configuration no longer reads, a port that moved), so it is checked like the composed
 * supergraph is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_VARIABLES } from '../../platform/config';
import { envPrefix, SUBGRAPHS } from '../../schema/subgraphs';

const ROOT = path.resolve(__dirname, '../..');

/** Each subgraph's URL as a supergraph names it (`@join__graph(name: …, url: …)`). */
function supergraphUrls(sdl: string): Map<string, string> {
  return new Map([...sdl.matchAll(/@join__graph\(name: "([^"]+)", url: "([^"]+)"\)/g)].map((m) => [m[1]!, m[2]!]));
}

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
  ports?: string[];
  depends_on?: Record<string, unknown>;
}

const compose = parseYaml(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const shopServices = [...SUBGRAPHS.map((s) => s.name), 'router'];

/** The health check reads PORT to know where its own process listens; nothing else does. */
const HEALTH_CHECK_VARIABLES = new Set(['PORT']);

describe('docker-compose.yml', () => {
  it('runs every subgraph and the router, each with a health check', () => {
    for (const name of shopServices) {
      expect({ name, present: name in services }).toEqual({ name, present: true });
      expect({ name, healthcheck: services[name]!.healthcheck?.test.join(' ') ?? null }).toEqual({ name, healthcheck: expect.stringContaining('/ready') });
    }
  });

  it('runs each shop process as node itself, so the stop signal reaches the program and its graceful shutdown', () => {
    for (const name of shopServices) {
      const command = services[name]!.command ?? [];
      expect({ name, command: command.slice(0, 1), loader: command.includes('--import') && command.includes('tsx') }).toEqual({ name, command: ['node'], loader: true });
    }
  });

  it('sets only environment variables the configuration reads', () => {
    const known = new Set(CONFIG_VARIABLES);
    for (const name of shopServices) {
      const unknown = Object.keys(services[name]!.environment ?? {}).filter((key) => !known.has(key) && !HEALTH_CHECK_VARIABLES.has(key));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
    }
  });

  it('health-checks each process on the port it listens on, as schema/subgraphs.ts gives it', () => {
    for (const { name, port } of SUBGRAPHS) {
      const environment = services[name]!.environment ?? {};
      // The subgraph listens on <NAME>_PORT, whose default is the list's port.
      const listens = Number(environment[`${envPrefix(name)}_PORT`] ?? port);
      expect({ name, listens, checked: Number(environment.PORT) }).toEqual({ name, listens: port, checked: port });
    }
    const router = services.router!;
    expect(router.command).toEqual(expect.arrayContaining(['--port', String(router.environment!.PORT)]));
    expect(router.ports).toEqual([`${router.environment!.PORT}:${router.environment!.PORT}`]);
  });

  it("routes to each subgraph's container at its port, in the supergraph the router container serves", () => {
    const command = services.router!.command!;
    const supergraph = command[command.indexOf('--supergraph') + 1]!;
    const urls = supergraphUrls(fs.readFileSync(path.join(ROOT, supergraph), 'utf8'));
    for (const { name, port } of SUBGRAPHS) expect({ name, url: urls.get(name) }).toEqual({ name, url: `http://${name}:${port}/graphql` });
  });

  it('health-checks every store, and starts each subgraph only once the stores it names are healthy', () => {
    const stores = Object.entries(services).filter(([, service]) => service.image);
    expect(stores.map(([name]) => name).sort()).toEqual(['elasticsearch', 'inventory-db', 'mongo', 'order-db', 'payment-db', 'redis']);
    for (const [name, service] of stores) expect({ name, healthcheck: Boolean(service.healthcheck?.test.length) }).toEqual({ name, healthcheck: true });
    for (const name of SUBGRAPHS.map((s) => s.name)) {
      // Every store host a subgraph's URLs point at (redis://redis:6379, mongodb://mongo:27017/…).
      const hosts = new Set(
        Object.values(services[name]!.environment ?? {}).flatMap((value) => {
          const match = /^[a-z+]+:\/\/(?:[^@/]*@)?([\w-]+)[:/]/.exec(String(value));
          return match && stores.some(([store]) => store === match[1]) ? [match[1]!] : [];
        }),
      );
      for (const host of hosts) {
        expect({ name, host, dependency: services[name]!.depends_on?.[host] }).toEqual({ name, host, dependency: { condition: 'service_healthy' } });
      }
    }
  });

  it('puts customers and the catalog on MongoDB as a replica set, and search on Elasticsearch with a memory limit', () => {
    expect(services.customer!.environment!.CUSTOMER_MONGODB_URL).toMatch(/^mongodb:\/\/mongo:27017\/\w+\?replicaSet=rs0$/);
    expect(services['product-search']!.environment!.PRODUCT_MONGODB_URL).toMatch(/^mongodb:\/\/mongo:27017\/\w+\?replicaSet=rs0$/);
    expect(services['product-search']!.environment!.PRODUCT_ELASTICSEARCH_URL).toBe('http://elasticsearch:9200');
    expect(services.mongo!.command).toEqual(expect.arrayContaining(['--replSet', 'rs0']));
    const elasticsearch = services.elasticsearch as Service & { mem_limit?: string };
    expect(elasticsearch.image).toMatch(/elasticsearch:8\./);
    expect(elasticsearch.mem_limit).toBeDefined();
    expect(String(elasticsearch.environment!.ES_JAVA_OPTS)).toMatch(/-Xmx\d+[mg]/);
  });

  it('starts the router only once every subgraph is healthy', () => {
    const dependsOn = services.router!.depends_on ?? {};
    for (const { name } of SUBGRAPHS) expect({ name, dependency: dependsOn[name] }).toEqual({ name, dependency: { condition: 'service_healthy' } });
  });
});
