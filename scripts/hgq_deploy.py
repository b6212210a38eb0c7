#!/usr/bin/env python
"""Deploy one HGQ2 point (the 'folder' of a point of scripts/hgq_sweep.py) as the course's IP: hls4ml project with
the course's stream wrapper, emulation library and test vectors, then `labkit bench board` on the emulated
board in the main environment; one JSON line on stdout.  Runs in the second environment:

    LABKIT_FAST=1 .venv-keras3/bin/python scripts/hgq_sweep.py --betas 1e-4 --folder /tmp/pts
    LABKIT_FAST=1 .venv-keras3/bin/python scripts/hgq_deploy.py /tmp/pts/h8_beta_0.0001   # the point's "folder"
    .venv-keras3/bin/python scripts/hgq_deploy.py --help

See labkit/hgq/ip.py.
"""
import os
import sys
from pathlib import Path

# Keras 3 reads its backend once, when first imported: JAX on the CPU unless the caller chose another
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # the checkout's labkit even where it is not installed
    sys.path.insert(0, str(ROOT))

from labkit.hgq.ip import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
