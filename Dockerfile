# Multi-stage build of the `loginsight` binary: a full Rust toolchain to compile, a slim
# Debian to run, as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin loginsight \
 && cp target/release/loginsight /usr/local/bin/loginsight

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/loginsight --create-home loginsight
COPY --from=build /usr/local/bin/loginsight /usr/local/bin/loginsight
USER loginsight
WORKDIR /var/lib/loginsight
EXPOSE 8080 5433
ENTRYPOINT ["loginsight"]
CMD ["serve", "--data-dir", "/var/lib/loginsight/data", "--http-addr", "0.0.0.0:8080", "--pg-addr", "0.0.0.0:5433"]
