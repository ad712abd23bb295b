# The wallboard server as a container image.
#   docker build -t wallboard .
#   docker run --rm -p 8080:8080 wallboard          # simulator on, journal in /data
# docker-compose.yml runs it with Prometheus, Alertmanager and Grafana.

# --- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# `cargo xtask ui` builds the Leptos UI (wasm32 target, wasm-bindgen, wasm-opt
# from npm) into target/ui/, which the server embeds; it needs node/npm and the
# wasm target. xtask/tools' packages want Node >= 20 (Debian bookworm has 18),
# so node and npm come from the official Node image.
COPY --from=node:22-bookworm-slim /usr/local/bin/node /usr/local/bin/node
COPY --from=node:22-bookworm-slim /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version \
    && rustup target add wasm32-unknown-unknown

WORKDIR /src
COPY . .

# The UI first (the server embeds target/ui/), then the release server. This is
# what `cargo xtask run` does before it starts the binary; if the build
# pipeline changes, follow xtask/src/main.rs (`run`).
RUN cargo xtask ui \
    && cargo build --release --locked -p wallboard --bin wallboard \
    && install -m 0755 target/release/wallboard /usr/local/bin/wallboard

# --- run --------------------------------------------------------------------
FROM debian:bookworm-slim

# The time-zone database is bundled in the binary (jiff tzdb-bundle-always),
# and the server makes no outbound TLS calls: nothing to install.
RUN groupadd --system --gid 10001 wallboard \
    && useradd --system --uid 10001 --gid wallboard --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin wallboard \
    && mkdir -p /data /etc/wallboard \
    && chown wallboard:wallboard /data

COPY --from=builder /usr/local/bin/wallboard /usr/local/bin/wallboard
# The documented example config (targets, queues, time zone); mount your own
# over it or set WALLBOARD_CONFIG.
COPY wallboard.example.toml /etc/wallboard/wallboard.toml
ENV WALLBOARD_CONFIG=/etc/wallboard/wallboard.toml

USER wallboard
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["wallboard"]
CMD ["--listen", "0.0.0.0:8080", "--simulate", "--data-dir", "/data"]
