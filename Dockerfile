# carechain node image: a static binary on distroless, as a non-root user,
# for a read-only root filesystem with the node's home on a volume.
#
# Not built on the development machine (it has no Docker engine); CI builds
# the same binary with the same script (scripts/build-static) and runs it as
# a non-root user (.ci/deploy-check). See docs/operations.md.
#
#   docker build -t carechain .
#   docker volume create carechain-home
#   # once: the node's home (ports on 0.0.0.0 inside the container)
#   docker run --rm -it --read-only -v carechain-home:/var/lib/carechain \
#       -e CARECHAIN_PASSPHRASE carechain init --home /var/lib/carechain \
#       --chain-id acme-health --org st-mary:hospital:"St Mary's Hospital" \
#       --p2p-addr 0.0.0.0:26656 --http-addr 0.0.0.0:8080
#   docker run -d --name carechain --read-only -v carechain-home:/var/lib/carechain \
#       -e CARECHAIN_PASSPHRASE -p 26656:26656 -p 127.0.0.1:8080:8080 \
#       --stop-timeout 60 carechain

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/build-static /out/carechain && mkdir -p /out/home

# distroless static: CA certificates, /etc/passwd with nonroot (65532), no
# shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/carechain /usr/local/bin/carechain
# The volume's mount point, owned by the node's user: a new named volume
# takes this ownership.
COPY --from=build --chown=65532:65532 /out/home /var/lib/carechain
USER 65532:65532
VOLUME /var/lib/carechain
# 26656: CometBFT p2p (other members' nodes); 8080: HTTP API, /metrics,
# /healthz, /readyz (the hospital's network, behind TLS).
EXPOSE 26656 8080
# start stops cleanly on SIGTERM (it anchors the access events it holds):
# give it time (docker stop -t 60, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/carechain"]
CMD ["start", "--home", "/var/lib/carechain"]
