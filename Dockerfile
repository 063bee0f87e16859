# syntax=docker/dockerfile:1
# fulfil's container image: every role of the one binary (`fulfil worker`, `relay`,
# `projector`, `api`, `setup`), chosen by the command. Build from the repository root:
#   docker build -t fulfil .
# The Lambda functions do not use this image: they run the `bootstrap` zip (see
# infra/DEPLOYING.md).

# ---------------------------------------------------------------- build
FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole source (see .dockerignore): sqlx::migrate! embeds migrations/ at compile time.
COPY . .
# Cache mounts keep the crate registry and the target directory between builds; the binary
# is copied out of the cached target directory, which does not outlive this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin fulfil \
    && install -D -m 0755 target/release/fulfil /out/fulfil

# ---------------------------------------------------------------- run
FROM debian:bookworm-slim
# CA certificates for TLS to AWS, PostgreSQL and Redis; nothing else. Not version-pinned
# (DL3008): bookworm's point releases replace the old package, so a pin stops resolving;
# the bookworm tag fixes the suite, and the CA bundle should be current anyway.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fulfil
COPY --from=builder /out/fulfil /usr/local/bin/fulfil
USER 10001
# Listen beyond loopback inside the container, so /metrics can be scraped; JSON logs.
ENV FULFIL_OPS_ADDR=0.0.0.0:9464 \
    FULFIL_LOG_FORMAT=json
EXPOSE 9464
# SIGTERM: stop receiving, finish the batches in hand, return the rest, exit (< 30 s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/fulfil", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/fulfil"]
CMD ["worker"]
