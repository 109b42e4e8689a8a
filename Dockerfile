# One image for every process of the shop; docker-compose.yml picks the command.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 DATA_DIR=/data LOG_PRETTY=false
COPY package.json package-lock.json ./
# Fixes to dependencies, applied by the postinstall script (patch-package).
COPY patches ./patches
# Production dependencies only: tsx, which runs the TypeScript sources, is one of them.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# The router by default, with a young generation sized for its short-lived response objects;
# subgraphs run `node --import tsx subgraphs/<name>/main.ts`.
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "router/main.ts", "--supergraph", "schema/supergraph.compose.graphql"]
