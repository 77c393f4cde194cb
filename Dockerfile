# Flywheel image: the `flywheel` CLI and the Temporal workers (cpu and gpu-h200 task queues).
#   docker build -t flywheel .
#   docker run --rm --init flywheel worker --queue cpu
# Pipelines (pipelines/) and steps (steps/) are baked in: rebuild the image after changing them.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NO_UPDATE_NOTIFIER=1 npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# --ignore-scripts skips the root `prepare` script (a build, which needs the sources copied below);
# `npm rebuild` then runs the dependencies' own install scripts.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts && npm rebuild
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NO_UPDATE_NOTIFIER=1 \
    FLYWHEEL_S3_LOCAL=/var/lib/flywheel/s3 \
    FLYWHEEL_COMPILE_CACHE=/var/lib/flywheel/pipelines
# The application stays owned by root (read-only to the process); only /var/lib/flywheel is writable.
# A named volume mounted there starts with this ownership.
RUN mkdir -p /var/lib/flywheel/s3 /var/lib/flywheel/pipelines && chown -R node:node /var/lib/flywheel
WORKDIR /app
COPY --from=build /app ./
USER node
ENTRYPOINT ["node", "bin/flywheel.js"]
CMD ["--help"]

# The gpu-h200 worker: the same application plus the trainer's Python environment (pinned in
# trainer/requirements.txt; PyPI's torch wheels carry the CUDA libraries, the host provides the
# driver through the NVIDIA container toolkit).
#   docker build --target gpu-runtime -t flywheel-gpu .
FROM runtime AS gpu-runtime
USER root
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*
COPY trainer/requirements.txt /opt/trainer-requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip python3 -m venv /opt/trainer-venv \
 && /opt/trainer-venv/bin/pip install -r /opt/trainer-requirements.txt
ENV FLYWHEEL_TRAINER_PYTHON=/opt/trainer-venv/bin/python
USER node
