"""Course tooling, not a stage: the ``labkit`` command line (``cli``), every benchmark (``bench``),
the board package (``package``), the headless lab runner (``runner``), the numbers each lab records
(``results``), the plotting helpers the labs use (``plots``) and the exercise checks (``exercises``).
It may import every stage; no stage imports it."""
