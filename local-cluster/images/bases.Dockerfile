# The base images images/Dockerfile names by build argument, made on this machine where no registry is
# reachable (build.sh fills the context: two Debian roots made by mmdebstrap, and this machine's Node.js,
# npm, Go and CA bundle). Each gives what its public counterpart gives the project's Dockerfile.

# DEBIAN_IMAGE (debian:<release>-slim): a Debian root with apt, pointed at this machine's mirror.
FROM scratch AS debian
ADD debian.tar /
CMD ["bash"]

# NODE_IMAGE (node:<version>-bookworm-slim): node, npm and npx on PATH. npm reaches the registry through
# whatever TLS proxy this machine has, so node trusts this machine's CA bundle too.
FROM debian AS node
COPY node/ /usr/local/
COPY ca-certificates.crt /usr/local/share/ca-certificates/build-host.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/build-host.crt
CMD ["node"]

# GO_IMAGE (golang:<version>-bookworm): go on PATH, no toolchain download, as the official image sets.
FROM debian AS go
COPY go/ /usr/local/go/
ENV GOTOOLCHAIN=local GOPATH=/go
ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# RUNTIME_IMAGE (gcr.io/distroless/nodejs<version>-debian12:nonroot): glibc and the C++ runtime from
# Debian's packages, no shell or package manager, node as the entrypoint, uid 65532 by default.
FROM scratch AS runtime
ADD runtime.tar /
COPY node/bin/node /nodejs/bin/node
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/nodejs/bin/node"]
