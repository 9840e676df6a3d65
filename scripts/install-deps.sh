#!/usr/bin/env bash
# Install what building, serving and testing serendb_data_api needs on Debian 12. Idempotent:
# every step is skipped when already done. Run as root or as a user with sudo.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGRX_VERSION=0.18.1
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-client-15 libclang-dev
  build-essential pkg-config libssl-dev sudo wrk curl ca-certificates
  python3 python3-pytest python3-yaml python3-jwt python3-cryptography python3-jsonschema
  postgresql-15-postgis-3)
# The client suites (tests/test_clients.py, tests/test_notes_e2e.py): a venv for postgrest-py,
# Chromium for the notes demo's browser test; Node (with npm) from Debian only when no node is
# installed yet.
APT_PACKAGES+=(python3-venv chromium fonts-liberation)
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs) first"
# scripts/test.sh checks formatting and lints
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  command -v rustup >/dev/null 2>&1 || die "cargo fmt / cargo clippy missing and no rustup to add them"
  log "rustup component add rustfmt clippy"
  rustup component add rustfmt clippy
fi

if [ "$(cargo pgrx --version 2>/dev/null || true)" != "cargo-pgrx $PGRX_VERSION" ]; then
  log "cargo install cargo-pgrx $PGRX_VERSION (takes a few minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs '^pg15 *=' "$PGRX_HOME/config.toml"; then
  log "cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG"
fi
log "dependencies ready"
