#!/usr/bin/env bash
# Run every benchmark (full settings) and append their JSON lines to artifacts/bench.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p artifacts
for b in accuracy agreement board rtl pareto; do
  "$PY" -m labkit bench "$b" "$@" | tee -a artifacts/bench.jsonl
done
