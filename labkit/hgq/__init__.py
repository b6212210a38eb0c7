"""Stage 04c — two routes to the same IP: HGQ2 (Keras 3) beside QKeras, on the same axes.

HGQ2 learns a bit width for every weight and activation; hls4ml converts QKeras only through its
Keras 2 converter and HGQ2 needs Keras 3, so this stage runs in a second environment,
``.venv-keras3`` (``scripts/setup_keras3.sh``, made by ``make setup``; lab 04c's kernel
``labkit-keras3``).  Modules:

* :mod:`labkit.hgq.route` -- build, distil and train an HGQ2 student, trace it with da4ml (Verilog,
  Yosys), check it bit for bit against da4ml and hls4ml, sweep its resource regulariser (``sweep``;
  ``scripts/hgq_sweep.py``);
* :mod:`labkit.hgq.ip` -- one point as the course's IP (hls4ml project with the stream wrapper, logits
  in course.ini's format) streamed through the emulated board (``scripts/hgq_deploy.py``).

Both import numpy and labkit only at their top level: the main environment imports them too (to say
what it lacks, and for ``labkit bench pareto --route hgq2``).
"""
