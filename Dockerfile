# iosig broker image: WebSocket on 7777, CongSocket on 8888.
#   docker build -t iosig .
#   docker run --rm -p 7777:7777 -p 8888:8888 iosig

# ---- build: compile TypeScript, then drop the dev dependencies ----
FROM node:20-slim AS build
WORKDIR /app
# Native addons (bufferutil, utf-8-validate) compile from source where no prebuilt binary exists (e.g. arm64).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
RUN npm run build && npm prune --omit=dev

# ---- runtime ----
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/bin ./bin
COPY auth ./auth
RUN for tool in io-server io io-client io-keygen io-auth ioip; do ln -s /app/bin/$tool.js /usr/local/bin/$tool; done \
 && ln -s /app/bin/io-server.js /usr/local/bin/ios \
 && mkdir -p /data && chown node:node /data
# --data-dir /data: a volume there keeps retained signals across container restarts (README, Durability).
USER node
EXPOSE 7777 8888
# io-server exits 0 on SIGTERM (docker stop) after closing every connection and flushing its store.
CMD ["io-server", "-l", "7777", "-L", "8888"]
