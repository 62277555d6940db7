# Airlock: one image for every role (relay, console, migrate, serve).
#   docker build -t airlock:local .
# Build stage: the release binary, with cargo's registry and target dir cached by BuildKit.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p airlock \
    && install -Dm755 target/release/airlock /out/airlock

# Runtime stage: the binary, CA roots for calling providers over TLS, and a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 airlock \
    && useradd --system --uid 10001 --gid airlock --home-dir /var/lib/airlock \
        --create-home --shell /usr/sbin/nologin airlock
COPY --from=build /out/airlock /usr/local/bin/airlock
USER airlock:airlock
WORKDIR /var/lib/airlock
# 8080: relay (AIRLOCK_RELAY_ADDR), 8081: console (AIRLOCK_CONSOLE_ADDR)
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/airlock"]
CMD ["--help"]
