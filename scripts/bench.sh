#!/usr/bin/env bash
# The README's speed table: the synthetic ≈307M Llama in each format, decode
# and prefill at 1 and 2 threads, beside the memory read bandwidth measured
# in the same run. With LLAMA_CPP=DIR (DIR/bin/llama-bench, a llama.cpp
# build), llama.cpp measures each GGUF file at the same thread counts in the
# same run, in rounds alternating with accel's, with ratio columns.
# Usage: [LLAMA_CPP=DIR] scripts/bench.sh [DIR] (model files go to DIR,
# default out/bench; they are reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-out/bench}
mkdir -p "$dir"
accel=bin/accel
[ -x "$accel" ] || go build -o "$accel" ./cmd/accel

for typ in F32 F16 Q8_0 Q4_0 Q4_K_M; do
  f="$dir/synth-$typ.gguf"
  [ -s "$f" ] || "$accel" synth -o "$f" --type "$typ"
done

ref=()
if [ -n "${LLAMA_CPP:-}" ]; then
  [ -x "$LLAMA_CPP/bin/llama-bench" ] || { echo "LLAMA_CPP=$LLAMA_CPP has no bin/llama-bench" >&2; exit 1; }
  ref=(--llama-bench "$LLAMA_CPP/bin/llama-bench")
else
  echo "(set LLAMA_CPP=DIR, a llama.cpp build with DIR/bin/llama-bench, for llama.cpp's figures beside these; see docs/benchmarks.md)"
fi

# GGUF formats as stored (beside llama.cpp), then this project's Int
# formats (converted on load; llama.cpp has no counterpart).
runs=("F32:" "F16:" "Q8_0:" "Q4_0:" "Q4_K_M:" "F32:q8" "F32:q4" "F32:q3" "F32:q2")
first=1
for run in "${runs[@]}"; do
  typ=${run%%:*} prec=${run#*:}
  args=(--model "$dir/synth-$typ.gguf" --threads 1,2)
  if [ -n "$prec" ]; then
    args+=(--precision "$prec" --prefill-runs 3)
  elif [ ${#ref[@]} -gt 0 ]; then
    # Five rounds, accel's and llama.cpp's runs alternating: medians, and
    # ratios paired round by round.
    args+=("${ref[@]}" --rounds 5 --prefill-runs 1 --llama-reps 1 --decode-tokens 16)
  else
    args+=(--prefill-runs 3)
  fi
  [ $first = 1 ] || args+=(--no-header)
  "$accel" bench "${args[@]}"
  first=0
done
