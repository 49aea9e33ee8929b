#!/usr/bin/env bash
# Bounded libFuzzer run of every decoder of untrusted bytes in the Rust protocol crate
# (core/fuzz: SignalMessage, PreKeySignalMessage, Sender Key messages, stored records).
#
#   ci/fuzz-rust.sh              all targets, FUZZ_SECONDS (default 48) split evenly
#   FUZZ_SECONDS=600 ci/fuzz-rust.sh   a longer local run
#
# It builds the targets with the stable toolchain, adding libFuzzer's coverage
# instrumentation through RUSTFLAGS (what cargo-fuzz does, so cargo-fuzz itself is not
# needed). The first build takes a few minutes; FUZZ_SECONDS bounds only the fuzzing.
# A crash leaves its input in core/fuzz/artifacts/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../core/fuzz"

FUZZ_SECONDS=${FUZZ_SECONDS:-48}
TARGETS=(signal_message prekey_message sender_key records)
HOST=$(rustc -vV | sed -n 's/^host: //p')

export RUSTFLAGS="-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing"
# --target keeps RUSTFLAGS away from build scripts, which must not be instrumented.
cargo build -q --release --locked --bins --target "$HOST"

per_target=$((FUZZ_SECONDS / ${#TARGETS[@]}))
[ "$per_target" -ge 1 ] || per_target=1
corpus_root=$(mktemp -d)
trap 'rm -rf "$corpus_root"' EXIT
mkdir -p artifacts

for target in "${TARGETS[@]}"; do
    mkdir -p "$corpus_root/$target"
    echo "fuzzing $target for ${per_target}s"
    set +e
    "target/$HOST/release/$target" \
        -max_total_time="$per_target" \
        -timeout=10 \
        -rss_limit_mb=1024 \
        -artifact_prefix="artifacts/$target-" \
        -print_final_stats=1 \
        "$corpus_root/$target" 2>&1 | grep -E '^(Done|stat::number_of_executed_units)|panicked|ERROR|SUMMARY'
    # The fuzzer's own exit status, not grep's.
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $target failed (exit $status); see core/fuzz/artifacts/" >&2
        exit "$status"
    fi
done
