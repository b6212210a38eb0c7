"""pytest set-up shared by tests/ and the notebooks under labs/ (``make test`` runs both, in parallel).

With pytest-xdist (``make test`` passes ``-n 2 --dist loadgroup``) the notebooks form one group and run
in course order on one worker: each lab reads the checkpoints the labs before it wrote in
``artifacts/fast/``.  The browser check, which runs lab 01 in JupyterLab on the same artifacts, joins
that group.  Everything else (tests/, each test in its own temporary artifacts folder) is shared out
between the workers.
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
LABS = ROOT / "labs"
#: tests that use the notebooks' artifacts folder and so run with the notebooks
WITH_THE_LABS = {"test_browser.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if LABS in path.parents or path.name in WITH_THE_LABS:
            item.add_marker(pytest.mark.xdist_group("labs"))
