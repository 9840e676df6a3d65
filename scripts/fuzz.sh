#!/usr/bin/env bash
# Fuzzes the pure request-facing code (query grammar, request parsing, planner, responses,
# Postgres errors, JWT auth, HTTP/1.1 framing, ipc frames) with cargo-fuzz. Not part of CI.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Default: 60 s for every target in fuzz/Cargo.toml. Exits non-zero when a target crashes
# (panic, hang over 10 s, out of memory); the input is then in fuzz/artifacts/<target>/, and
# `cargo fuzz run <target> <file>` (with RUSTC_BOOTSTRAP=1 on stable) replays it.
#
# cargo-fuzz needs nightly-only rustc flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it
# use them. The corpus grows in fuzz/corpus/ (not committed). The seeds are generated here into
# fuzz/seeds/ (not committed) from the conformance cases (CONFORMANCE_DIR, default
# ../shared/conformance) by fuzz/seeds.py; fuzz/crashers/ holds inputs that once crashed a
# target, committed, and fed to it as seeds too.
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true

if ! [[ "$secs" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [seconds-per-target] [target...]" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"

# which seed directory (input format) each target reads
seeds_for() {
    case "$1" in
        parse_query) echo query ;;
        auth) echo auth ;;
        http_server) echo http ;;
        pg_error) echo pg_error ;;
        plan_grammar) echo none ;;
        *) echo request ;;
    esac
}

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cases="${CONFORMANCE_DIR:-$(dirname "$PWD")/shared/conformance}/cases"
[ -d "$cases" ] || echo "no conformance cases at $cases: only the built-in seeds" >&2
rm -rf fuzz/seeds
python3 fuzz/seeds.py "$cases" fuzz/seeds

# build once up front so a compile error is not reported as a crash
for t in "${targets[@]}"; do
    cargo fuzz build -a "$t"
done

failed=()
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus"
    seeds="$(seeds_for "$t")"
    extra=()
    if [ "$seeds" = query ] || [ "$seeds" = request ]; then
        extra=(-dict=fuzz/grammar.dict)
    fi
    if [ "$seeds" = http ]; then
        extra=(-dict=fuzz/http.dict)
    fi
    if [ "$t" = plan_grammar ]; then
        # a generator's input: long inputs from the start, not grown slowly from a few bytes
        extra=(-max_len=1024 -len_control=0)
    fi
    echo "== $t: ${secs}s"
    seed_dirs=()
    for d in "fuzz/seeds/$seeds" "fuzz/crashers/$seeds"; do
        if [ -d "$d" ]; then
            seed_dirs+=("$d")
        fi
    done
    if ! cargo fuzz run -a "$t" "$corpus" "${seed_dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 "${extra[@]}"; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crash in: ${targets[*]}"
