#!/usr/bin/env python
"""The HGQ2 (Keras 3) route's sweep: one HGQ2 student per beta, trained on the course's split and measured
(test accuracy with n and 95 % interval, Yosys LUTs, latency in cycles, bit-exactness of da4ml's emulation
and hls4ml's C simulation); one JSON line per beta on stdout.  Runs in the second environment:

    bash scripts/setup_keras3.sh                    # once: makes .venv-keras3
    LABKIT_FAST=1 .venv-keras3/bin/python scripts/hgq_sweep.py --betas 1e-5,1e-4
    .venv-keras3/bin/python scripts/hgq_sweep.py --help

See labkit/hgq/route.py.
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

from labkit.hgq.route import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
