#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints, per target, the inputs
# executed and the crashes found; exits non-zero if any target crashed. Crashing inputs are
# kept in fuzz/artifacts/TARGET/ (each becomes a regression test in the normal suite), the
# growing corpus in fuzz/corpus/TARGET/ (seeded from fuzz/seeds/TARGET/).
#
# Needs the nightly toolchain (installed on the development machines) and cargo-fuzz, which
# is installed when missing. The build has its own target directory: sanitizer flags would
# otherwise invalidate the workspace's.
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/loginsight-fuzz-target}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build || exit 1

total=0
failed=0
printf '%-16s %14s %8s\n' target executions crashes
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log="$CARGO_TARGET_DIR/fuzz-$target.log"
  cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  crashes=$(find "artifacts/$target" -type f | wc -l)
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes="?"
  fi
  printf '%-16s %14s %8s\n' "$target" "${execs:-0}" "$crashes"
  total=$((total + ${execs:-0}))
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -5
  fi
done
printf '%-16s %14s\n' total "$total"
exit "$failed"
