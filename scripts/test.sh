#!/usr/bin/env bash
# The full check: deps, formatting, unit tests, clippy, release build + install, integration
# tests, conformance. Exits non-zero when formatting, a lint, the unit tests, the integration
# tests or the conformance suite fail.
#
# Environment: SKIP_DEPS=1 (skip scripts/install-deps.sh), PYTEST_ARGS (extra pytest arguments),
#              CONFORMANCE_DIR (default: ../shared/conformance next to the repository).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

if [ "${SKIP_DEPS:-0}" != "1" ]; then
  bash scripts/install-deps.sh
fi

log "format: cargo fmt --check"
cargo fmt --check

log "unit tests: cargo test --no-default-features"
cargo test --no-default-features --quiet

# With the pg15 feature (default): the build that also lints the Postgres side and sees dead
# code (the modules are crate-private). It builds pgrx in check mode once: about two minutes.
log "lint: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

bash scripts/build-install.sh

log "integration tests: $PYTHON -m pytest tests/"
set +e
# shellcheck disable=SC2086
"$PYTHON" -m pytest -q -p no:cacheprovider tests/ ${PYTEST_ARGS:-}
PYTEST_RC=$?
set -e
case "$PYTEST_RC" in
  0) log "integration tests passed" ;;
  5) log "pytest collected no tests: counted as a failure" ;;
  *) log "integration tests failed (pytest exit $PYTEST_RC)" ;;
esac

CONFORMANCE_DIR="${CONFORMANCE_DIR:-$(dirname "$REPO_ROOT")/shared/conformance}"
CONF_RC=0
if [ -f "$CONFORMANCE_DIR/serve.sh" ]; then
  CONF_OUT="${TMPDIR:-/tmp}/serendb-conformance.out"
  log "conformance suite: $CONFORMANCE_DIR/serve.sh"
  set +e
  PYTHON="$PYTHON" bash "$CONFORMANCE_DIR/serve.sh" >"$CONF_OUT" 2>&1
  CONF_RC=$?
  set -e
  grep '^FAIL' "$CONF_OUT" | head -n 40 || true
  log "conformance (exit $CONF_RC; full output in $CONF_OUT):"
  grep -E '^[0-9]+ passed, [0-9]+ failed' "$CONF_OUT" | tail -n 1 || tail -n 1 "$CONF_OUT"
else
  log "conformance suite not found at $CONFORMANCE_DIR: skipped"
fi

[ "$PYTEST_RC" = "0" ] || exit 1
[ "$CONF_RC" = "0" ] || { log "the conformance suite failed"; exit 1; }
log "all gating checks passed"
