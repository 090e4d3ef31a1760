#!/usr/bin/env bash
# Runs one fuzz target for a while and records what it did. Resumes from the target's saved
# corpus (fuzz/corpus/TARGET, not committed), seeded from the fixtures; crashes go to
# fuzz/artifacts/TARGET. Appends a line to fuzz/stats.tsv: date, target, sanitizer, runs,
# seconds, cov, ft, corpus, peak RSS (MiB), exit code. Run one at a time, niced: the
# machine is shared.
#
#   fuzz/run.sh TARGET SECONDS [none|address]      e.g. fuzz/run.sh parse_frame 600 none
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on the stable toolchain with
# RUSTC_BOOTSTRAP=1 (set here). `none` is for throughput, `address` (the default sanitizer
# of cargo-fuzz) for memory errors; each keeps its own build in fuzz/target/SANITIZER.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?target}
seconds=${2:?seconds}
sanitizer=${3:-none}
export RUSTC_BOOTSTRAP=1

case "$target" in
  parse_frame | differential) seeds=(fixtures/esl); max_len=16384 ;;
  encode_command) seeds=(); max_len=4096 ;;
  parse_documents) seeds=(fixtures/flows fixtures/flows/callflows fixtures/twiml); max_len=16384 ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac

dir=fuzz/target/$sanitizer
nice -n 19 cargo fuzz build --sanitizer "$sanitizer" --target-dir "$dir" "$target" >&2
binary=$dir/x86_64-unknown-linux-gnu/release/$target
corpus=fuzz/corpus/$target
mkdir -p "$corpus" "fuzz/artifacts/$target" fuzz/logs
log=fuzz/logs/$target-$sanitizer-$(date +%Y%m%dT%H%M%S).log

status=0
nice -n 19 "$binary" "$corpus" "${seeds[@]}" \
  -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="fuzz/artifacts/$target/" 2>"$log" || status=$?

runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $2"\t"$5}')
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
field() { echo "$last" | grep -o "$1: [0-9a-zA-Z/]*" | awk '{print $2}'; }
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -Is)" "$target" "$sanitizer" \
  "${runs:-?	?}" "$(field cov)" "$(field ft)" "$(field corp)" "$(field rss)" "$status" \
  | tee -a fuzz/stats.tsv
exit "$status"
