"""Fixtures shared by the test files: each expensive build is made once per test session (per
pytest-xdist worker) and reused by every test that needs it (tests/toys.py builds them)."""
import pytest


@pytest.fixture(scope="session")
def build():
    """The toy student, its compiled hls4ml project and the emulation libraries (toys.toy_build)."""
    pytest.importorskip("hls4ml")
    from toys import toy_build
    return toy_build()


@pytest.fixture(scope="session")
def tiny():
    """A tiny student and its RTL twin (toys.tiny_build)."""
    pytest.importorskip("hls4ml")
    from toys import tiny_build
    return tiny_build()
