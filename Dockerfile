# Killfeed Gateway image: Node.js 20 on Debian 12 (bookworm), running as an
# unprivileged user. Health checks are left to the orchestrator (Kubernetes
# probes /readyz and /healthz; see deploy/kubernetes/).

FROM node:20-bookworm-slim AS build
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund


FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app

COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The universe map is read at start; the corpus lets `replay` run in the image.
COPY data ./data

# The official node image's "node" user. A numeric id lets Kubernetes verify
# runAsNonRoot.
USER 1000:1000
EXPOSE 8080
CMD ["node", "dist/cli.js", "serve"]
