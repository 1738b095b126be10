#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 10) with libFuzzer's coverage guidance, on
# the stable toolchain (the same instrumentation flags cargo-fuzz passes). Prints executions
# and the outcome per target; exits non-zero on the first crash (the input is saved in
# fuzz/artifacts/TARGET/). CI runs it briefly; for a long run: fuzz/run.sh 600.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-10}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
target_dir=../target/fuzz
# An explicit --target keeps RUSTFLAGS (the instrumentation) off build scripts.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --locked --release --target "$host" --target-dir "$target_dir" --bins
bin="$target_dir/$host/release"
targets=$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^pcp-fuzz$')
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  if "$bin/$t" "corpus/$t" -max_total_time="$secs" -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $t: ${runs:-?} executions in ${secs}s, no crash"
    rm -f "$log"
    # The role_source target's fixed tree (one per fuzzer process).
    rm -rf /dev/shm/pcp-fuzz-* "${TMPDIR:-/tmp}"/pcp-fuzz-*
  else
    echo "fuzz $t: CRASH (see fuzz/artifacts/$t/)"
    tail -40 "$log"
    exit 1
  fi
done
