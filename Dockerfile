# faultline container image: the binary, its bundled playbooks (compiled in) and a default
# config; no shell, no package manager, a non-root user, an exec-form entrypoint.
#
# Build from source on public base images (what users do):
#
#     docker build -t faultline .
#
# Build from a binary cargo already built, on `FROM scratch` (no base image to pull — what CI
# does on machines without registry access):
#
#     cargo build --release --locked
#     scripts/image-rootfs.sh target/release/faultline target/image-root
#     docker build --target prebuilt -t faultline .
#
# Run: `docker run --rm faultline --version`; the default command watches what
# /etc/faultline/faultline.yaml says (mount your own there). State (checkpoints) goes to
# /var/lib/faultline: mount a volume there to keep it across restarts.

# --- prebuilt: the root filesystem scripts/image-rootfs.sh staged (binary + the shared libraries
# it links, a passwd entry for the non-root user, CA certificates). First in the file so that
# builders without BuildKit, which build every stage up to the target, build only this one.
FROM scratch AS prebuilt
ARG ROOTFS=target/image-root
COPY ${ROOTFS}/rootfs/ /
COPY --chown=65532:65532 ${ROOTFS}/state/ /var/lib/faultline/
ENV STATE_DIRECTORY=/var/lib/faultline
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/faultline"]
CMD ["watch", "--config", "/etc/faultline/faultline.yaml"]

# --- build: compile on the official Rust image.
FROM docker.io/library/rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && install -D target/release/faultline /out/faultline && mkdir -p /out/state

# --- runtime (default target): distroless with glibc and libgcc, CA certificates, user nonroot.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/faultline /usr/local/bin/faultline
COPY config/faultline.yaml /etc/faultline/faultline.yaml
COPY --from=build --chown=65532:65532 /out/state/ /var/lib/faultline/
ENV STATE_DIRECTORY=/var/lib/faultline
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/faultline"]
CMD ["watch", "--config", "/etc/faultline/faultline.yaml"]
