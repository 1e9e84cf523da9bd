#!/usr/bin/env bash
# The README's speed table: the synthetic ≈307M Llama in each format, decode
# and prefill at 1 and 2 threads, beside the memory read bandwidth measured
# in the same run. Usage: scripts/bench.sh [DIR] (model files go to DIR,
# default out/bench; they are reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-out/bench}
mkdir -p "$dir"
accel=bin/accel
[ -x "$accel" ] || go build -o "$accel" ./cmd/accel

for typ in F32 F16 Q8_0 Q4_0; do
  f="$dir/synth-$typ.gguf"
  [ -s "$f" ] || "$accel" synth -o "$f" --type "$typ"
done

# GGUF formats as stored, then this project's Int formats (converted on load).
runs=("F32:" "F16:" "Q8_0:" "Q4_0:" "F32:q8" "F32:q4" "F32:q3" "F32:q2")
first=1
for run in "${runs[@]}"; do
  typ=${run%%:*} prec=${run#*:}
  args=(--model "$dir/synth-$typ.gguf" --threads 1,2)
  [ -n "$prec" ] && args+=(--precision "$prec")
  if [ $first = 1 ]; then "$accel" bench "${args[@]}"; first=0
  else "$accel" bench "${args[@]}" | tail -n +2; fi
done
