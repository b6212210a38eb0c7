#!/bin/sh
# Which Python `make setup` builds .venv with: the pinned stack (TensorFlow 2.15.1) has wheels for
# Python 3.10 and 3.11 only (pyproject.toml: requires-python; environment.yml: python=3.11).
#
#   scripts/find_python.sh [PYTHON]      print the interpreter to use, or say how to get one (exit 1)
#   scripts/find_python.sh --venv DIR    check that an existing DIR/bin/python is a supported one
#
# PYTHON (make setup PYTHON=...) is used as given and refused if it is not 3.10/3.11; without it the
# first of python3.11, python3.10, python3 on PATH that is 3.10/3.11 and has venv + ensurepip wins.
# POSIX sh (dash on Debian, bash 3.2 on macOS).
SUPPORTED="3.10 3.11"
HOWTO="get one with \`uv python install 3.11\`, \`pyenv install 3.11\` or \`conda env create -f environment.yml\`, then run make setup again (or name it: make setup PYTHON=/path/to/python3.11)"

# "<major.minor> <ok|noensurepip> <sys.executable>" of an interpreter, or nothing if it does not run;
# parse() splits it into $ver $ok $exe (the path may contain spaces)
probe() {
    "$1" -c 'import sys
try:
    import venv, ensurepip
    ok = "ok"
except ImportError:
    ok = "noensurepip"
print("%d.%d %s %s" % (sys.version_info[0], sys.version_info[1], ok, sys.executable))' 2>/dev/null
}

parse() {
    ver=${1%% *}
    rest=${1#* }
    ok=${rest%% *}
    exe=${rest#* }
}

supported() {
    for v in $SUPPORTED; do [ "$1" = "$v" ] && return 0; done
    return 1
}

say() { echo "make setup: $*" >&2; }

if [ "$1" = "--venv" ]; then
    dir=$2
    info=$(probe "$dir/bin/python") || info=""
    if [ -z "$info" ]; then
        say "$dir/bin/python does not run (a venv whose Python was removed or moved); remove it (rm -rf $dir) and run make setup again."
        exit 1
    fi
    parse "$info"
    if ! supported "$ver"; then
        say "$dir was created with Python $ver, but the pinned stack (TensorFlow 2.15) needs Python 3.10 or 3.11; remove it (rm -rf $dir) and run make setup again with a supported Python (make setup finds python3.11 or python3.10 on PATH, or $HOWTO)."
        exit 1
    fi
    echo "$dir/bin/python"
    exit 0
fi

if [ -n "$1" ]; then
    info=$(probe "$1") || info=""
    if [ -z "$info" ]; then
        say "PYTHON=$1 does not run as a Python interpreter; name a Python 3.10 or 3.11 (or leave PYTHON unset to search PATH), or $HOWTO."
        exit 1
    fi
    parse "$info"
    if ! supported "$ver"; then
        say "PYTHON=$1 is Python $ver, but the pinned stack (TensorFlow 2.15) needs Python 3.10 or 3.11: $HOWTO."
        exit 1
    fi
    if [ "$ok" != ok ]; then
        say "PYTHON=$1 (Python $ver) has no venv/ensurepip module; install it (on Debian/Ubuntu: apt-get install python$ver-venv) and run make setup again."
        exit 1
    fi
    echo "$exe"
    exit 0
fi

found=""        # what was tried, for the message
noenv=""
for cand in python3.11 python3.10 python3; do
    command -v "$cand" >/dev/null 2>&1 || continue
    info=$(probe "$cand") || info=""
    [ -n "$info" ] || continue
    parse "$info"
    found="$found${found:+, }$cand is $ver"
    if supported "$ver"; then
        if [ "$ok" = ok ]; then
            echo "$exe"
            exit 0
        fi
        noenv=${noenv:-$ver}
    fi
done
if [ -n "$noenv" ]; then
    say "Python $noenv is there but has no venv/ensurepip module; install it (on Debian/Ubuntu: apt-get install python$noenv-venv) and run make setup again."
    exit 1
fi
say "no Python 3.10 or 3.11 on PATH (${found:-no python3 found}), and the pinned stack (TensorFlow 2.15) has no wheels for other versions: $HOWTO."
exit 1
