#!/usr/bin/env bash
# `make test`: the tests (tests/) and the notebooks (labs/, labs/solutions/) in two pytest processes
# side by side, one per core. The notebooks run in course order in their own process (each lab reads
# the checkpoints the labs before it wrote in artifacts/fast/), together with the browser check that
# opens lab 01 on the same artifacts. Both reports are printed, then the 15 slowest tests of the two,
# then one closing line. Exit status 0 only if both runs pass.
#
#   scripts/run_tests.sh PYTHON          (the Makefile sets LABKIT_FAST=1)
set -uo pipefail
PY="$1"
out="artifacts/fast/test-reports"
mkdir -p "$out"
rm -f "$out"/labs.* "$out"/tests.*
"$PY" -m pytest -p no:cacheprovider labs tests/test_browser.py --nbval-lax --nbval-current-env \
      --junitxml="$out/labs.xml" > "$out/labs.log" 2>&1 &
labs=$!
trap 'kill "$labs" 2>/dev/null' INT TERM
"$PY" -m pytest -p no:cacheprovider tests --ignore=tests/test_browser.py --junitxml="$out/tests.xml"
tests_rc=$?
wait "$labs"
labs_rc=$?
echo
echo "==================== the notebooks (labs/, labs/solutions/) and the browser check ===================="
cat "$out/labs.log"
"$PY" scripts/slowest.py 15 "$out/tests.xml" "$out/labs.xml"
echo "make test: tests/ exit $tests_rc, notebooks exit $labs_rc"
[ "$tests_rc" -eq 0 ] && [ "$labs_rc" -eq 0 ]
