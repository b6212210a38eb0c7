"""Course tooling, not a stage: the ``labkit`` command line (``cli``), the benchmarks (``bench``),
the headless lab runner (``runner``), the numbers each lab records (``results``) and the plotting
helpers the labs use (``plots``)."""
