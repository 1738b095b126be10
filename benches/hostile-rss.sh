#!/usr/bin/env bash
# Peak RSS of a receiver (the real destination role, in one process) fed by a hostile source:
# a 10^6-entry file list, an endless chunk list for a 16 GiB declared file, a zstd bomb, and a
# 2^62-byte declared file. Each case is one test of tests/attack_fs.rs, run alone in a release
# build under /usr/bin/time; the figure includes the test harness itself (first row).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
bin=$(cargo test --release --test integration --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*integration[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "could not build the test binary" >&2; exit 1; }
printf '%-70s %10s\n' case "peak RSS"
for t in attack_fs::source_script_sends_the_real_file \
         attack_fs::t22_million_entry_file_list_is_streamed \
         attack_fs::t22_endless_chunk_list_for_a_large_declared_file_is_cut_off \
         attack_fs::t25_zstd_bomb_is_refused_in_bounded_memory \
         attack_fs::attack_declared_size_above_free_space; do
  out=$(mktemp)
  /usr/bin/time -o "$out" -f '%M' "$bin" --exact "$t" --test-threads=1 -q >/dev/null 2>&1
  kb=$(tail -1 "$out"); rm -f "$out"
  printf '%-70s %7d MiB\n' "$t" $((kb / 1024))
done
