"""A real browser: JupyterLab from the venv, lab 01 in headless Chromium, Run All, the pulse browser reacts.

The check a participant would make by hand: open ``labs/01_data.ipynb`` in JupyterLab, run all cells,
move the slider of ``plots.pulse_browser`` and see the plot change.  It runs when Debian's
``chromium`` and Playwright (the ``dev`` extra, driving the system browser: nothing is downloaded)
are installed, and is skipped with one sentence otherwise.  JupyterLab gets a private temporary
config, runtime, settings and workspace folder, a free port, no token and no browser of its own; it
runs a copy of the notebook (the one in git is never saved over) and is always shut down, kernels
included.  The screenshot goes to ``labkit.artifacts.browser()``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "01_data.ipynb"
BUDGET_S = 100          # the whole check, start-up to shutdown; it takes about 20 s on 2 cores
STEP_S = 45             # one wait (server up, kernel idle, Run All done, widget redrawn)


def _chromium() -> str | None:
    names = [os.environ["LABKIT_CHROMIUM"]] if os.environ.get("LABKIT_CHROMIUM") else []
    for name in names + ["chromium", "chromium-browser"]:
        if shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip("no Chromium on PATH: install Debian's `chromium` package (`make setup` installs it when "
                "run as root) to run the browser check", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is missing: install the `dev` extra "
    "(pip install -e '.[dev]', as `make setup` does) to run the browser check")

pytestmark = pytest.mark.browser

# user settings a person would pick for a look at one notebook: no news or update pop-ups, no
# autosave, every cell in the DOM (no virtual scrolling)
SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left_ms(self, cap_s: float = STEP_S) -> float:
        """Milliseconds for the next wait: what is left of the budget, at most ``cap_s``."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the browser check ran over its {BUDGET_S} s budget")
        return min(left, cap_s) * 1000


def _tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


class Lab:
    """JupyterLab from this venv on a free port, in a private temporary tree; ``stop()`` always ends it."""

    def __init__(self, tmp: Path, deadline: Deadline):
        self.tmp, self.deadline = tmp, deadline
        dirs = {k: tmp / k for k in ("root", "config", "runtime", "data", "settings", "workspaces", "ipython")}
        for d in dirs.values():
            d.mkdir()
        self.runtime = dirs["runtime"]
        # a copy without the saved widget state, so only the live kernel can draw the widget
        nb = json.loads(LAB.read_text())
        nb["metadata"].pop("widgets", None)
        (dirs["root"] / LAB.name).write_text(json.dumps(nb, indent=1))
        (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"ip": "127.0.0.1", "port": 0, "port_retries": 0, "open_browser": False,
                          "root_dir": str(dirs["root"]), "allow_root": True, "terminals_enabled": False,
                          # no language servers: jupyter_lsp's search for them runs `npm` in $HOME
                          "jpserver_extensions": {"jupyter_lsp": False}},
            "IdentityProvider": {"token": ""},
            # nothing asks PyPI or the news feed
            "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                       "extension_manager": "readonly",
                       # window.jupyterapp: the test asks the notebook panel when its kernel is ready
                       "expose_app_in_browser": True},
        }))
        for plugin, values in SETTINGS.items():
            path = dirs["settings"] / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
                   JUPYTER_DATA_DIR=str(dirs["data"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
                   JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]), IPYTHONDIR=str(dirs["ipython"]),
                   # the kernel runs this tree's labkit in fast mode (never over a course run's artifacts)
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   LABKIT_FAST="1", PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3")
        self.log = tmp / "jupyterlab.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "jupyterlab"], cwd=dirs["root"], env=env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.url = None

    def wait_ready(self) -> str:
        """Poll (0.2 s) for the server's info file, then for ``/api/status`` answering 200."""
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{_tail(self.log)}")
            info = sorted(self.runtime.glob("jpserver-*.json"))
            if info and self.url is None:
                try:
                    self.url = json.loads(info[0].read_text())["url"]
                except (ValueError, KeyError):       # written but not complete yet
                    pass
            if self.url:
                try:
                    with urllib.request.urlopen(self.url + "api/status", timeout=2) as r:
                        if r.status == 200:
                            return self.url
                except OSError:
                    pass
            self.deadline.left_ms()
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM: the server shuts its kernels down; whatever it started and left running is killed."""
        try:
            import psutil
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:  # noqa: BLE001 - the server may be gone already
            children = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for child in children:
            try:
                child.wait(timeout=5)
            except Exception:  # noqa: BLE001 - still running (psutil.TimeoutExpired) or gone
                try:
                    child.kill()
                except Exception:  # noqa: BLE001
                    pass


# JS predicates polled in the page (synchronous: a returned Promise would count as true). The
# toolbar's execution indicator says "idle" before the notebook has a kernel, and Run All before the
# kernel is connected runs nothing: ask the panel itself (public JupyterLab API).
KERNEL_READY = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.context || !panel.context.isReady) return false;
  const session = panel.sessionContext;
  const kernel = session.session && session.session.kernel;
  return session.isReady && !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle'
    && panel.content.widgets.length === panel.context.model.cells.length;
}"""
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"   # streams and errors
# Run All has ended: a fresh kernel ran the n code cells in order ([1]: ... [n]:), or an error
# stopped it (nothing still queued or running)
RUN_ENDED = """([n, stderr]) => {
  const p = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
    .map(e => e.textContent.trim());
  const all = p.length === n && p.every((t, i) => t === `[${i + 1}]:`);
  return all ? 'all ran' : (document.querySelector(stderr) && !p.includes('[*]:') ? p.join(' ') : false);
}"""
WIDGET_PLOT = """([old]) => {
  const imgs = [...document.querySelectorAll('.widget-interact .jp-OutputArea-output img')];
  return imgs.length === 1 && imgs[0].src.startsWith('data:image/png') && imgs[0].src !== old
    && imgs[0].complete && imgs[0].naturalWidth > 0;
}"""


def _run_lab01(page, url: str, deadline: Deadline, shot: Path) -> None:
    """Open lab 01, Run All, check the pulse browser and move its slider; screenshot of its cell."""
    n_code = sum(c["cell_type"] == "code" for c in json.loads(LAB.read_text())["cells"])
    page.set_default_timeout(deadline.left_ms())
    page.goto(f"{url}lab/tree/{LAB.name}")
    # the notebook is open and its kernel is connected and idle
    page.wait_for_function(KERNEL_READY, timeout=deadline.left_ms(), polling=200)
    # Run > Run All Cells, as a person would: click into the notebook, open the menu (again, until
    # JupyterLab has made the notebook its current widget and enabled the item)
    page.locator(".jp-NotebookPanel .jp-Cell .jp-InputPrompt").first.click()
    run_all = page.locator(".lm-Menu-item[data-command='runmenu:run-all']")
    while True:
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        run_all.wait_for(timeout=deadline.left_ms())
        if "lm-mod-disabled" not in (run_all.get_attribute("class") or ""):
            break
        page.keyboard.press("Escape")
        deadline.left_ms()
        time.sleep(0.2)
    run_all.click()
    ended = page.wait_for_function(RUN_ENDED, arg=[n_code, STDERR], timeout=deadline.left_ms(), polling=250)
    errors = page.locator(STDERR)
    assert errors.count() == 0, f"stderr or an error in the run: {errors.first.inner_text()[:2000]}"
    assert ended.json_value() == "all ran"
    page.wait_for_function(KERNEL_READY, timeout=deadline.left_ms(), polling=200)
    printed = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    loaded = re.search(r"(\w+): (\d+) pulses, per class", printed)
    assert loaded, "lab 01 printed no '<source>: N pulses' line"

    # the pulse browser: one slider 'index' over all loaded pulses, at pulse 0, above one plot
    cell = page.locator(".jp-CodeCell", has=page.locator(".widget-interact"))
    assert cell.count() == 1
    assert "plots.pulse_browser(" in cell.locator(".jp-InputArea-editor").inner_text()
    assert re.fullmatch(r"\[\d+\]:", cell.locator(".jp-InputArea-prompt").inner_text().strip())
    slider = cell.locator(".widget-interact .widget-slider")
    assert slider.locator(".widget-label").inner_text().strip() == "index"
    handle = slider.locator(".noUi-handle")
    assert float(handle.get_attribute("aria-valuemax")) == int(loaded.group(2)) - 1
    assert slider.locator(".widget-readout").inner_text().strip() == "0"
    page.wait_for_function(WIDGET_PLOT, arg=[""], timeout=deadline.left_ms(), polling=100)
    img = cell.locator(".widget-interact .jp-OutputArea-output img")
    first = img.get_attribute("src")

    # move the slider one step (keyboard on the handle): the readout and the plot change
    cell.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.widget-interact .widget-readout')"
                           ".textContent.trim() === '1'", timeout=deadline.left_ms(), polling=100)
    page.wait_for_function(WIDGET_PLOT, arg=[first], timeout=deadline.left_ms(), polling=100)
    assert img.get_attribute("src") != first
    cell.screenshot(path=str(shot))


def test_lab01_runs_in_jupyterlab_and_the_pulse_browser_reacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_FAST", "1")            # the same artifacts folder as the lab's kernel
    from labkit import artifacts
    shot = artifacts.browser() / "lab01_widget.png"
    failed = artifacts.browser() / "lab01_failure.png"
    for path in (shot, failed, failed.with_suffix(".log")):
        path.unlink(missing_ok=True)
    deadline = Deadline(BUDGET_S)
    lab = Lab(tmp_path, deadline)
    try:
        url = lab.wait_ready()
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         env=dict(os.environ, HOME=str(tmp_path)))
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                try:
                    _run_lab01(page, url, deadline, shot)
                except Exception:
                    # what the page showed and what JupyterLab logged, for the failure report
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(failed))
                        shutil.copy(lab.log, failed.with_suffix(".log"))
                    raise
            finally:
                browser.close()
    finally:
        lab.stop()
    assert lab.proc.returncode is not None and not list(lab.runtime.glob("jpserver-*.json"))
    assert shot.stat().st_size > 10_000
