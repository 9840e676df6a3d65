#!/usr/bin/env bash
# Build the extension in release mode and install it into the system PostgreSQL 15.
# As root it installs directly; otherwise cargo-pgrx copies the files with sudo.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
SUDO_FLAG=()
[ "$(id -u)" = "0" ] || SUDO_FLAG=(--sudo)
log "cargo pgrx install --release"
cargo pgrx install --release --pg-config "$PG_CONFIG" ${SUDO_FLAG[@]+"${SUDO_FLAG[@]}"}
