# resreap as PID 1 of a container. Build and try the demo:
#   docker build -t resreap .
#   docker run --rm --stop-timeout 15 -p 127.0.0.1:9321:9321 resreap
# --stop-timeout covers the config's shutdown: resreap check -c
# configs/container.toml prints it ("shutdown takes at most 8s").
# For your own services, start FROM this image (or copy /usr/local/bin/resreap
# into yours) and put your config at /etc/resreap/resreap.toml.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/resreap ./cmd/resreap

# The children need a userland (a shell, their own binaries): a slim Debian,
# not scratch. resreap itself is static.
FROM debian:bookworm-slim
COPY --from=build /out/resreap /usr/local/bin/resreap
COPY configs/container.toml /etc/resreap/resreap.toml
# As PID 1 resreap reaps every orphan of the container, and stops the
# children with their escalation on docker stop: TERM, said here so that
# a base image's STOPSIGNAL cannot change it.
ENV RESREAP_CONFIG=/etc/resreap/resreap.toml
ENTRYPOINT ["/usr/local/bin/resreap", "run"]
CMD ["--log-format", "json"]
EXPOSE 9321
STOPSIGNAL SIGTERM
# /healthz: resreap's own loop runs. The image has no curl; resreap asks
# its own metrics_listen (resreap probe).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/resreap", "probe", "--timeout", "4s", "/healthz"]
