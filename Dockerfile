# syntax=docker/dockerfile:1
#
# The `loginsight` binary (serve, worker, tail) in a small image, run as a non-root user.
#
# Stage 1 compiles with the full Rust toolchain image, which already has what the bundled
# native libraries need (a C/C++ compiler and make for DuckDB and librdkafka, zlib headers).
# BuildKit cache mounts keep the registry and the target directory between builds, so a
# source change does not rebuild DuckDB; the binary is copied out in the same step because a
# cache mount is not part of the image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin loginsight \
 && install -D -m 0755 target/release/loginsight /out/loginsight

# Stage 2: Debian slim with CA certificates (for an HTTPS model endpoint) and nothing else.
# libstdc++ (DuckDB is C++) is already part of the base image.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/loginsight --create-home loginsight \
 && install -d -o loginsight -g loginsight /var/lib/loginsight/data
COPY --from=build /out/loginsight /usr/local/bin/loginsight
# The data directory exists and belongs to the user before a volume is mounted on it: a fresh
# named volume copies that ownership, so the non-root process can write its database.
VOLUME ["/var/lib/loginsight/data"]
USER loginsight
WORKDIR /var/lib/loginsight
# HTTP ingest, Postgres-wire SQL, gRPC/OTLP.
EXPOSE 8080 5433 4317
# No HEALTHCHECK here: the same image runs `loginsight worker`, which serves no HTTP. The
# compose file checks `serve` on /healthz.
ENTRYPOINT ["loginsight"]
# Listening beyond loopback needs a SQL password: set LOGINSIGHT_SQL_PASSWORD when running it.
CMD ["serve", "--data-dir", "/var/lib/loginsight/data", \
     "--http-addr", "0.0.0.0:8080", "--pg-addr", "0.0.0.0:5433", "--grpc-addr", "0.0.0.0:4317"]
