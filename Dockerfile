# The gateway as a static binary on distroless, as a non-root user.
#   docker build -t ai-gateway .
#   docker run -p 8080:8080 -e GATEWAY_API_KEY=… ai-gateway
# The built-in Wasm policies are committed (policies/), so the build needs
# only the Go toolchain.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/gateway ./cmd/gateway \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY gateway.toml /etc/gateway/gateway.toml
USER nonroot:nonroot
ENV PORT=8080
EXPOSE 8080
# listen is 0.0.0.0 in the container; data_dir holds uploads, the Wasm
# compilation cache and, without DATABASE_URL, the SQLite store.
ENTRYPOINT ["/gateway", "-config", "/etc/gateway/gateway.toml", "-listen", "0.0.0.0:8080"]
