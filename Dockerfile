# musterd with the dashboard embedded: a static binary on distroless, non-root.
# docker build -t musterd .
FROM node:20-bookworm AS dashboard
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY dashboard/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=dashboard /src/dashboard/dist ./dashboard/dist
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/musterd ./cmd/musterd \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/muster ./cmd/muster

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/musterd /out/muster /usr/local/bin/
USER 65532:65532
EXPOSE 8000 9090
VOLUME /data
ENTRYPOINT ["/usr/local/bin/musterd", "--data-dir=/data"]
