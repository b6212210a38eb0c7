#!/usr/bin/env bash
# `make test`: the tests (tests/) and the notebooks in two pytest processes side by side, one per core.
# The notebooks are the labs with their exercises answered (scripts/answered_labs.py pastes each answer
# of labs/solutions/ into its exercise cell, so every answer runs in its lab's namespace). They run in
# course order in their own process (each lab reads the checkpoints the labs before it wrote in
# artifacts/fast/), together with the browser check that
# opens lab 01 on the same artifacts and one more test file (BESIDE_LABS). Both reports are printed, then
# the 15 slowest tests of the two, then one closing line. Exit status 0 only if both runs pass.
#
#   scripts/run_tests.sh PYTHON          (the Makefile sets LABKIT_FAST=1)
set -uo pipefail
PY="$1"
out="artifacts/fast/test-reports"
mkdir -p "$out"
rm -f "$out"/labs.* "$out"/labs-keras3.* "$out"/tests.*
# the notebooks' process also takes a test file that runs in its own folders, so that both
# processes take about as long (their times: the 15 slowest tests, printed at the end)
BESIDE_LABS="tests/test_browser.py tests/test_gallery.py tests/test_own_model.py"
notebooks=$("$PY" scripts/answered_labs.py artifacts/fast/answered) || exit 1
# lab 04c runs on the Keras 3 environment's kernel (labkit-keras3, made by scripts/setup_keras3.sh), after
# lab 04b whose QKeras front it reads; without that kernel the list is empty and a note says why
keras3=$("$PY" scripts/answered_labs.py --kernel labkit-keras3 artifacts/fast/answered) || exit 1
{ "$PY" -m pytest -p no:cacheprovider $notebooks $BESIDE_LABS --nbval-lax --nbval-current-env \
      --junitxml="$out/labs.xml" > "$out/labs.log" 2>&1; rc=$?
  if [ -n "$keras3" ]; then
      "$PY" -m pytest -p no:cacheprovider $keras3 --nbval-lax --nbval-kernel-name labkit-keras3 \
          --junitxml="$out/labs-keras3.xml" >> "$out/labs.log" 2>&1 || rc=1
  fi
  exit $rc; } &
labs=$!
trap 'kill "$labs" 2>/dev/null' INT TERM
"$PY" -m pytest -p no:cacheprovider tests $(for f in $BESIDE_LABS; do printf -- '--ignore=%s ' "$f"; done) \
      --junitxml="$out/tests.xml"
tests_rc=$?
wait "$labs"
labs_rc=$?
echo
echo "========== the labs, answered (artifacts/fast/answered/), and the browser check =========="
cat "$out/labs.log"
echo "make test: tests/ exit $tests_rc, notebooks exit $labs_rc"
"$PY" scripts/slowest.py 15 "$out/tests.xml" "$out/labs.xml" $(ls "$out"/labs-keras3.xml 2>/dev/null)     # ends with the closing line
[ "$tests_rc" -eq 0 ] && [ "$labs_rc" -eq 0 ]
