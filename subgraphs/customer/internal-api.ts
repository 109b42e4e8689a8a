import { ACTIVE_API_KEYS_PATH, API_KEY_USE_PATH, bearerMatches, type ApiKeyUse } from '../../platform/api-keys';
import { readBody, sendJson, type HttpRoute } from '../../platform/http';
import type { ApiKeyService } from './api-keys';

/** Largest report of key use accepted, in bytes: a few thousand keys. */
const USE_REPORT_MAX_BYTES = 256 * 1024;

function isUseReport(value: unknown): value is ApiKeyUse {
  const use = (value as ApiKeyUse | null)?.use;
  return typeof use === 'object' && use !== null && Object.values(use).every((at) => Number.isFinite(at));
}

/**
 * The customer subgraph's internal endpoints, for routers showing the service token: the
 * active API keys (GET), and when keys were last used (POST `{ use: { id: epochMs } }`).
 */
export function apiKeyRoutes(keys: ApiKeyService, token: string): Record<string, HttpRoute> {
  const guarded =
    (method: string, serve: HttpRoute): HttpRoute =>
    async (req, res) => {
      if (!bearerMatches(req, token)) return sendJson(res, 401, { error: 'Send the service token as a bearer token.' });
      if (req.method !== method) {
        res.setHeader('allow', method);
        return sendJson(res, 405, { error: `Use ${method}.` });
      }
      return serve(req, res);
    };
  return {
    [ACTIVE_API_KEYS_PATH]: guarded('GET', async (_req, res) => sendJson(res, 200, { keys: await keys.active() })),
    [API_KEY_USE_PATH]: guarded('POST', async (req, res) => {
      let report: unknown;
      try {
        report = JSON.parse(await readBody(req, USE_REPORT_MAX_BYTES));
      } catch {
        return sendJson(res, 400, { error: 'The body must be JSON: { "use": { "<key id>": <epoch ms> } }.' });
      }
      if (!isUseReport(report)) return sendJson(res, 400, { error: 'The body must be JSON: { "use": { "<key id>": <epoch ms> } }.' });
      await keys.recordUse(report.use);
      res.writeHead(204).end();
    }),
  };
}
