# Lookout: one static-ish binary (rustls + aws-lc-rs, no OpenSSL) on a distroless base
# that has glibc and nothing else: no shell, no package manager, runs as non-root.
#   docker build -t lookout:dev .
#   docker run --rm -p 4317:4317 -p 4318:4318 -p 8686:8686 lookout:dev
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# cmake and perl, for aws-lc-rs (the TLS crypto provider) when it builds from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake=3.25.* perl=5.36.* \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p lookout \
 && cp target/release/lookout /lookout \
 && strip /lookout \
 && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /etc/lookout
# The default pipeline with the shipped rules and scaling policies, found relative to
# the working directory as when running from a checkout.
COPY pipelines/ pipelines/
COPY alert-rules/ alert-rules/
COPY scaling/ scaling/
COPY --from=build /lookout /usr/local/bin/lookout
COPY --from=build --chown=65532:65532 /data /var/lib/lookout
ENV LOOKOUT_API_ADDRESS=0.0.0.0:8686 \
    LOOKOUT_OTLP_GRPC_ADDRESS=0.0.0.0:4317 \
    LOOKOUT_OTLP_HTTP_ADDRESS=0.0.0.0:4318 \
    LOOKOUT_DATA_DIR=/var/lib/lookout
VOLUME ["/var/lib/lookout"]
EXPOSE 4317 4318 8686
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lookout"]
CMD ["run"]
