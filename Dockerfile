# syntax=docker/dockerfile:1
#
# pivot's container image. Build: docker build -t pivot .
# Run: docker run -v "$PWD/pivot.toml:/etc/pivot/pivot.toml:ro" -p 8084:8084 -p 8000:8000 pivot
# The lab (freeswitch-conf/docker-compose.yml, docs/lab.md) builds and runs it for you.
#
# Needs BuildKit (the default builder of current Docker and of "docker compose"): the cache
# mounts keep downloaded crates and compiled dependencies between builds.

FROM rust:1-bookworm AS builder
WORKDIR /build
# .dockerignore keeps target/, .git and the lab's own files out of the context.
COPY . .
# A cache mount is not part of the image, so the binary is copied out of target/ here.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/pivot /out/pivot

FROM debian:bookworm-slim
# ca-certificates: voice_url, cdr_url and media may be https.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A non-root user that owns the data directory (SQLite debug log). A named volume mounted
# there copies this ownership when it is first created.
RUN groupadd --system --gid 10001 pivot \
    && useradd --system --uid 10001 --gid pivot --home-dir /var/lib/pivot --no-create-home \
       --shell /usr/sbin/nologin pivot \
    && install -d -o pivot -g pivot -m 0750 /var/lib/pivot \
    && install -d -m 0755 /etc/pivot
COPY --from=builder /out/pivot /usr/local/bin/pivot

USER 10001:10001
WORKDIR /var/lib/pivot
# 8084: FreeSWITCH's outbound event socket connections; 8000: the REST API.
EXPOSE 8084 8000
ENTRYPOINT ["pivot"]
CMD ["serve", "--config", "/etc/pivot/pivot.toml"]
