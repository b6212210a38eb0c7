"""The AXI-Stream wrapper around the hls4ml network and its g++ emulation library.

* :func:`params_header` -- ``labkit_params.h``: every number the C++ needs, from ``CFG``.
* :func:`install_wrapper` -- put the wrapper sources + header into an hls4ml project's firmware/.
* :func:`build_emulation` -- one g++ call: wrapper + firmware -> ``libclyc_emu.so``.

No TensorFlow / hls4ml import here: only files and a compiler.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..artifacts import write_text_atomic
from ..config import CFG
from ..emit import c_string, cpp_header
from .ipsim import default_lib_path, file_sha256, library_record, write_library_record

CPP_DIR = Path(__file__).with_name("cpp")
WRAPPER_FILES = ("labkit_axis.h", "clyc_classifier.h", "clyc_classifier.cpp")
EMU_SOURCE = "labkit_emu.cpp"
PARAMS_HEADER = "labkit_params.h"


params_header = cpp_header     # labkit_params.h: generated from course.ini by labkit.emit


def project_n_out(project_dir) -> int:
    """Logits per pulse of a written hls4ml project: the size of the output array in
    ``firmware/myproject.h`` (``result_t layerN_out[k]``), so the wrapper always emits what the
    network computes (any number of classes; ``CFG.n_classes`` for the course's student)."""
    import re

    header = Path(project_dir) / "firmware" / "myproject.h"
    if not header.exists():          # a project without its header (a stand-in): the course's classes
        return CFG.n_classes
    found = re.findall(r"\bresult_t\s+\w+\s*\[\s*(\d+)\s*\]", header.read_text())
    if len(found) != 1:
        raise FileNotFoundError(f"{header} does not declare one result_t output array: write the hls4ml "
                                "project again (labkit hls convert)")
    return int(found[0])


def project_input(project_dir) -> str:
    """The input transform a written hls4ml project takes (``CFG.input_transform``): the one whose
    format is its ``input_t`` in ``firmware/defines.h`` (the course's when the header is absent)."""
    import re

    from ..config import INPUTS

    header = Path(project_dir) / "firmware" / "defines.h"
    if not header.exists():
        return "course"
    found = re.search(r"typedef\s+(ap_u?fixed<[^>]*>)\s+input_t\s*;", header.read_text())
    for name in INPUTS:
        if found and found.group(1).replace(" ", "") == CFG.input_transform(name).format.hls():
            return name
    raise ValueError(f"{header}: input_t is {found.group(1) if found else 'not declared'}, the format of no "
                     f"input transform ({', '.join(INPUTS)}): convert the model again with labkit hls convert --input")


def install_wrapper(project_dir) -> Path:
    """Copy the wrapper sources and write ``labkit_params.h`` into ``<project>/firmware``
    (``LABKIT_N_OUT`` = :func:`project_n_out`, the input stage of :func:`project_input`)."""
    fw = Path(project_dir) / "firmware"
    if not (fw / "myproject.cpp").is_file():
        raise FileNotFoundError(f"{fw}/myproject.cpp missing: write the hls4ml project first (labkit hls convert)")
    files = {name: (CPP_DIR / name).read_text() for name in WRAPPER_FILES}
    files[PARAMS_HEADER] = params_header(project_n_out(project_dir), project_input(project_dir))
    for name, text in files.items():
        _write_if_changed(fw / name, text)
    return fw


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic replace, and only when the content differs (a concurrent g++ never sees a half file)."""
    if path.is_file() and path.read_text() == text:
        return
    write_text_atomic(path, text)


def quote_build_script(project_dir) -> None:
    """hls4ml's ``build_lib.sh`` puts the project folder into a C string literal as it is
    (``WEIGHTS_DIR="\\"${BASEDIR}/firmware/weights\\""``): a ``"`` or ``\\`` in the artifacts path
    ends the literal and the C simulation does not compile. Replace that line by the same path as a
    C literal (:func:`labkit.emit.c_string`) in shell single quotes.  The script also keeps the
    network's object file (``myproject.o``), which :func:`build_emulation` links instead of compiling
    the network a second time (most of a conversion's compile time)."""
    script = Path(project_dir) / "build_lib.sh"
    if not script.is_file():
        return
    import re
    import shlex
    weights = Path(project_dir).resolve() / "firmware" / "weights"
    line = "WEIGHTS_DIR=" + shlex.quote(c_string(str(weights)))
    text = script.read_text()
    fixed = re.sub(r"^WEIGHTS_DIR=.*$", lambda _: line, text, flags=re.M)
    fixed = re.sub(r"^rm -f \*\.o$", "rm -f ${PROJECT}_bridge.o   # labkit keeps ${PROJECT}.o (build_emulation)",
                   fixed, flags=re.M)
    if fixed != text:
        _write_if_changed(script, fixed)
        script.chmod(0o755)


def network_object(project_dir):
    """hls4ml's compiled network (``<project>/myproject.o``, kept by :func:`quote_build_script`) when it
    is newer than every source of the network, else None (the library then compiles the network)."""
    project_dir = Path(project_dir)
    obj = project_dir / "myproject.o"
    if not obj.is_file():
        return None
    ours = set(WRAPPER_FILES) | {PARAMS_HEADER}
    sources = [p for p in (project_dir / "firmware").rglob("*") if p.is_file() and p.name not in ours
               and p.suffix in (".h", ".hpp", ".cpp", ".txt")]
    newest = max((p.stat().st_mtime_ns for p in sources), default=0)
    return obj if obj.stat().st_mtime_ns >= newest else None


def compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise FileNotFoundError(f"C++ compiler {cxx!r} not found: install g++ (apt-get install g++) "
                                "or point $CXX at one")
    return cxx


def build_emulation(project_dir, out_path=None, defines=(), quiet=True) -> Path:
    """Compile ``libclyc_emu.so`` (one g++ call, -O2 -fPIC -shared) and return its path.

    ``defines`` adds ``-D`` macros (the tests build deliberately broken variants with it).
    The library's SHA-256 goes into ``<library>.sha256`` next to it (written atomically):
    :class:`~labkit.hls.ipsim.EmulatedIP` loads only a library that matches its record.
    """
    project_dir = Path(project_dir).resolve()
    fw = install_wrapper(project_dir)
    out_path = Path(out_path) if out_path is not None else default_lib_path()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    network = network_object(project_dir)
    cmd = [compiler(), "-O2", "-fPIC", "-shared", "-std=c++14",
           f"-I{fw}", f"-I{fw / 'ap_types'}",
           # the path as a C string literal (a '"' or '\\' in the artifacts path must not end it);
           # g++ gets an argument list, no shell
           f"-DWEIGHTS_DIR={c_string(str(fw / 'weights'))}",
           *[f"-D{d}" for d in defines], *(["-DLABKIT_LINK_NETWORK"] if network else []),
           str(CPP_DIR / EMU_SOURCE), *([str(network)] if network else []), "-o", str(tmp)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"g++ failed building the emulation library ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
    digest = file_sha256(tmp)  # what g++ wrote, before it is published under its name
    library_record(out_path).unlink(missing_ok=True)   # no moment where a new library has an old record
    os.replace(tmp, out_path)  # atomic: a loaded old library is never overwritten in place
    write_library_record(out_path, digest)
    if not quiet:
        print(f"built {out_path} in {time.perf_counter() - t0:.1f} s (SHA-256 recorded in "
              f"{library_record(out_path).name})")
    return out_path
