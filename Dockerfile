# zeta-bench, for the mock services in stack/docker-compose.yml and for
# running zeta-bench itself in CI images.
FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/zeta-bench /usr/local/bin/zeta-bench
USER 65534:65534
ENTRYPOINT ["zeta-bench"]
