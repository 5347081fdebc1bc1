# Multi-stage build of the operator image. `make test` runs the build stage's command
# (`make release` reads it from this file), so the release build is proven on every run;
# the image itself is built by your CI, where a container engine is available.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
RUN cargo build --release --locked --bin breakglass

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# CA roots for the API server and AWS endpoints; nothing else is installed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/breakglass /usr/local/bin/breakglass
# The chart runs it as this user with a read-only root filesystem.
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["/usr/local/bin/breakglass"]
CMD ["controller", "--leader-elect"]
