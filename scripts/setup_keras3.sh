#!/usr/bin/env bash
# The second environment of the course: the Keras 3 route (issue 32), beside the QKeras one in .venv.
#
#   bash scripts/setup_keras3.sh [MAIN_VENV_DIR | PYTHON]
#
# Makes .venv-keras3 in the checkout (VENV3=/other/folder to put it elsewhere) with Keras 3 on JAX's
# CPU backend, HGQ2 (learned per-weight bit widths), da4ml with its own dependencies (numpy 2), hls4ml
# (1.2 or later converts HGQ2 models) and pandas, then labkit itself in editable mode without its
# dependencies (labkit's data, config and fixed-point modules need numpy only; pandas reads the CSVs).
# labkit/hgq/route.py is the route; scripts/hgq_sweep.py runs it.
#
# ipykernel and matplotlib go there too, and the Jupyter kernel `labkit-keras3` ("labkit (Keras 3,
# HGQ2)": this environment's Python with KERAS_BACKEND=jax, JAX_PLATFORMS=cpu) is registered in the MAIN
# environment, in <MAIN_VENV_DIR>/share/jupyter/kernels/labkit-keras3/, where its Jupyter, nbclient
# (`labkit course`) and nbval find it: lab 04c runs on it. MAIN_VENV_DIR is the argument when that is
# a folder (the Makefile passes .venv), else the checkout's .venv when it exists.
#
# The Python: the first of pyenv's 3.12.1, python3.12 on PATH, then a 3.11: the argument's (a
# Python, or a venv folder such as the main .venv, whose interpreter is used), python3.11 on PATH.
# (TensorFlow 2.15 of the main .venv stops at 3.11; this environment has no TensorFlow.)
#
# Idempotent: a stamp file in the venv records this script's digest; run again, it does nothing
# until the script changes (then it installs again into the same venv). Exit status non-zero, with
# one sentence on stderr, when anything fails.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV3="${VENV3:-$ROOT/.venv-keras3}"
case "$VENV3" in /*) ;; *) VENV3="$PWD/$VENV3" ;; esac     # absolute: the Jupyter kernel's argv names it
STAMP="$VENV3/.labkit-keras3-installed"
ARG="${1:-}"

# the versions this route was built and tested with (one pip resolution; see the report of issue 32)
PINS=(
    "keras==3.15.1"
    "jax[cpu]==0.12.1"
    "hgq2==0.2.0"
    "quantizers==1.2.2"
    "da4ml==0.6.0"
    "hls4ml==1.3.0"
    "numpy==2.5.5"
    "pandas==2.3.3"
    "ipykernel==7.4.0"
    "matplotlib==3.11.2"
)
KERNEL="labkit-keras3"
KERNEL_TITLE="labkit (Keras 3, HGQ2)"

fail() { echo "setup_keras3.sh: $*" >&2; exit 1; }

# the main environment, whose Jupyter gets the kernel: the argument if it is a folder, else ./.venv
MAIN=""
if [ -n "$ARG" ] && [ -d "$ARG" ]; then
    MAIN="$(cd "$ARG" && pwd)"
elif [ -d "$ROOT/.venv" ]; then
    MAIN="$ROOT/.venv"
fi

# <MAIN>/share/jupyter/kernels/labkit-keras3/kernel.json: this environment's Python, Keras 3 on JAX's
# CPU. Written on every run (cheap; the main venv may have been made again since the stamp).
kernelspec() {
    if [ -z "$MAIN" ]; then
        echo "setup_keras3.sh: no main environment (.venv) yet, so the Jupyter kernel $KERNEL is not registered: run again once it exists (bash scripts/setup_keras3.sh .venv)"
        return 0
    fi
    local dir="$MAIN/share/jupyter/kernels/$KERNEL"
    mkdir -p "$dir" 2>/dev/null || fail "cannot make $dir for the Jupyter kernel $KERNEL: check that $MAIN is writable."
    "$VENV3/bin/python" - "$dir/kernel.json" "$VENV3/bin/python" "$KERNEL_TITLE" <<'PY' \
        || fail "writing the Jupyter kernel $KERNEL into $dir failed: check that the folder is writable."
import json, sys
path, python, title = sys.argv[1:]
# -Xfrozen_modules=off: what `ipykernel install` writes (no debugger warning at every start)
spec = {"argv": [python, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": title, "language": "python", "metadata": {"debugger": True},
        "env": {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}}
with open(path, "w") as f:
    f.write(json.dumps(spec, indent=1) + "\n")
PY
    echo "setup_keras3.sh: Jupyter kernel $KERNEL (\"$KERNEL_TITLE\") registered in $dir"
}

digest="$( { cat "$0"; printf '%s\n' "${PINS[@]}"; } | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ] && KERAS_BACKEND=jax JAX_PLATFORMS=cpu "$VENV3/bin/python" -c "import keras, hgq, da4ml, hls4ml, ipykernel, matplotlib, labkit" 2>/dev/null; then
    echo "setup_keras3.sh: $VENV3 is set up already (stamp $STAMP)"
    kernelspec
    exit 0
fi

# "<major.minor>" of an interpreter that runs and has venv + ensurepip, or nothing
probe() {
    "$1" -c 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

candidates=("/root/.pyenv/versions/3.12.1/bin/python3.12" "python3.12")
if [ -n "$ARG" ]; then
    if [ -d "$ARG" ]; then candidates+=("$ARG/bin/python"); else candidates+=("$ARG"); fi
fi
candidates+=("python3.11")
PY=""
for cand in "${candidates[@]}"; do
    command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ] || continue
    ver="$(probe "$cand")" || ver=""
    case "$ver" in
        3.12|3.11) PY="$cand"; break ;;
    esac
done
[ -n "$PY" ] || fail "no Python 3.12 or 3.11 with venv/ensurepip found (tried ${candidates[*]}); install one (pyenv install 3.12, or apt-get install python3.11-venv) or pass its path: bash scripts/setup_keras3.sh /path/to/python3.12"

t0=$(date +%s)
if [ -x "$VENV3/bin/python" ] && [ -n "$(probe "$VENV3/bin/python")" ]; then
    echo "setup_keras3.sh: reusing $VENV3 (Python $(probe "$VENV3/bin/python"))"
else
    rm -rf "$VENV3"
    echo "setup_keras3.sh: creating $VENV3 with $PY (Python $ver)"
    "$PY" -m venv "$VENV3" || fail "'$PY -m venv $VENV3' failed: check that the folder is writable and the Python has its venv module."
fi
# git must not see the venv (the checkout's .gitignore names .venv/ only)
printf '*\n' > "$VENV3/.gitignore"

PIP=("$VENV3/bin/python" -m pip --disable-pip-version-check)
log="$VENV3/setup.log"
: > "$log"
"${PIP[@]}" install -q --upgrade "pip>=24" >>"$log" 2>&1 \
    || fail "upgrading pip in $VENV3 failed (see $log): is PyPI reachable?"
"${PIP[@]}" install -q "${PINS[@]}" >>"$log" 2>&1 \
    || fail "installing Keras 3, JAX, HGQ2, da4ml, hls4ml, ipykernel and matplotlib into $VENV3 failed (see the end of $log)."
# labkit itself, editable, without its dependencies; pyproject.toml names the main environment's
# Python range (3.10/3.11, for TensorFlow 2.15), which this environment does not need
"${PIP[@]}" install -q --no-deps --ignore-requires-python -e "$ROOT" >>"$log" 2>&1 \
    || fail "installing labkit (editable, --no-deps) from $ROOT into $VENV3 failed (see the end of $log)."

KERAS_BACKEND=jax JAX_PLATFORMS=cpu "$VENV3/bin/python" - >>"$log" 2>&1 <<'EOF' || fail "$VENV3 was installed but the check failed: Keras 3 on JAX, hgq, da4ml, hls4ml, ipykernel, matplotlib or labkit does not import (see the end of $log)."
import keras, hgq, da4ml, hls4ml, jax, numpy, ipykernel, matplotlib, labkit
from labkit.hgq.route import missing
assert keras.__version__.split(".")[0] == "3" and keras.config.backend() == "jax", (keras.__version__, keras.config.backend())
assert missing() is None, missing()
print("keras", keras.__version__, "jax", jax.__version__, "hgq2", hgq.__version__, "da4ml", da4ml.__version__,
      "hls4ml", hls4ml.__version__, "numpy", numpy.__version__)
EOF
tail -1 "$log"
kernelspec
echo "$digest" > "$STAMP"
echo "setup_keras3.sh: $VENV3 ready in $(( $(date +%s) - t0 )) s, $(du -sh "$VENV3" | cut -f1); run: LABKIT_FAST=1 $VENV3/bin/python scripts/hgq_sweep.py --betas 1e-5"
