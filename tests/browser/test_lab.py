"""`make lab` for real: JupyterLab serves the chapters and one of them runs to the end in it.

The test starts the server as `make lab` does (the venv's JupyterLab on ``book/``, the
project's ``python3`` kernel), but on 127.0.0.1 with a random port and token and with its own
throw-away user settings (no autosave, every cell attached to the page). Headless Chromium
opens the first chapter, clears its stored outputs, runs "Run All Cells" and waits until the
kernel is idle; then every code cell must have run, in order, with no error output, and the
chapter file must be as it was (the lab's checkpoints go to a temporary folder). The server
(its whole process group) is stopped at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bookpages import CHAPTERS, CHROMIUM_FLAGS, ROOT, require_chromium
from playwright.sync_api import Page, Route

pytestmark = pytest.mark.browser

BOOK = ROOT / "book"
CHAPTER = CHAPTERS[0] if CHAPTERS else ""
START_TIMEOUT = 90  # seconds for the server to answer
RUN_TIMEOUT = 240  # seconds for the chapter to run (it takes well under a minute)

# The test's own user settings, beside the venv's overrides (tools/jupyterlab_overrides.json):
# nothing is saved behind the test's back, and every cell is in the page to be read.
USER_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


@dataclass
class Lab:
    url: str
    token: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_chromium()
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        message = "JupyterLab is not installed; `make lab` (or `make test`) installs it"
        if os.environ.get("MLMATH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("lab")
    for name, values in USER_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={BOOK}",
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # nothing written into book/
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(f"{url}/api/status?token={token}"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start (exit code {server.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Lab(url, token, log)
    finally:
        with contextlib.suppress(OSError):  # the server shuts its kernels down, then itself
            request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=5).close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # anything the server left in its group
            os.killpg(server.pid, signal.SIGKILL)


def code_cells(chapter: str) -> int:
    notebook = json.loads((BOOK / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    return sum(cell["cell_type"] == "code" for cell in notebook["cells"])


def wait_for_kernel(lab: Lab, page: Page) -> None:
    """Until the server holds a started kernel that answers (state idle).

    It waits with the page's clock, not ``time.sleep``: the page's requests pass through this
    test's router, which only runs while Playwright is called.
    """
    deadline = time.monotonic() + START_TIMEOUT
    kernels: list = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{lab.url}/api/kernels?token={lab.token}", timeout=10) as response:
            kernels = json.load(response)
        if any(k["execution_state"] == "idle" for k in kernels):
            return
        page.wait_for_timeout(500)
    pytest.fail(f"no kernel became ready in {START_TIMEOUT} s: {kernels}\n{lab.tail()}")


def menu(page: Page, name: str, item: str) -> None:
    """Choose ``name`` > ``item`` in JupyterLab's menu bar, once the item is enabled."""
    page.click(f".lm-MenuBar-itemLabel:text-is('{name}')")
    labels = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel")
    entry = labels.filter(has_text=re.compile(f"^{re.escape(item)}$"))
    entry.first.wait_for()
    entry.first.click()


def test_the_lab_kernel_imports_mlmath(lab: Lab) -> None:
    """The notebooks' kernel ``python3`` is the venv's Python, where mlmath is installed."""
    with urllib.request.urlopen(f"{lab.url}/api/kernelspecs?token={lab.token}", timeout=10) as response:
        specs = json.load(response)
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    check = subprocess.run([argv[0], "-c", "import mlmath; print(mlmath.__file__)"], capture_output=True, text=True)
    assert check.returncode == 0, f"the python3 kernel ({argv[0]}) cannot import mlmath: {check.stderr}"
    assert Path(check.stdout.strip()).is_relative_to(ROOT), f"the kernel imports another mlmath: {check.stdout}"


def test_a_chapter_runs_to_the_end_in_the_lab(lab: Lab) -> None:
    assert CHAPTER, "book/ holds no chapter notebook"
    source = BOOK / f"{CHAPTER}.ipynb"
    checkpoint = BOOK / ".ipynb_checkpoints" / f"{CHAPTER}-checkpoint.ipynb"
    had_checkpoint = checkpoint.exists()
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    cells = code_cells(CHAPTER)
    outside: list[str] = []
    from playwright.sync_api import sync_playwright

    def only_local(route: Route) -> None:
        if route.request.url.startswith(lab.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_chromium(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.route("**/*", only_local)
            page.goto(f"{lab.url}/lab/tree/{CHAPTER}.ipynb?token={lab.token}")
            notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
            page.wait_for_function(  # the cells are attached to the page as the notebook loads
                "([n]) => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell').length === n",
                arg=[cells],
            )
            wait_for_kernel(lab, page)
            notebook.locator(".jp-Cell").first.click()  # the notebook is the current widget

            menu(page, "Edit", "Clear Outputs of All Cells")
            assert notebook.locator(".jp-OutputArea-output").count() == 0, "the stored outputs were not cleared"

            menu(page, "Run", "Run All Cells")
            page.wait_for_function(  # every cell ran, or one failed (Run All stops there)
                """([n]) => {
                  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                  const prompts = Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'));
                  const idle = panel.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
                  const failed = panel.querySelector(
                      ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
                  const done = prompts.length === n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
                  return idle && (done || failed);
                }""",
                arg=[cells],
                timeout=RUN_TIMEOUT * 1000,
            )
            prompts = notebook.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
            errors = notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            error_text = errors.all_inner_texts()
            figures = notebook.locator(".jp-OutputArea-output img").count()
        finally:
            browser.close()

    assert error_text == [], f"{CHAPTER} printed errors in the lab:\n" + "\n".join(error_text)[:3000]
    counts = [int(p.strip().strip("[]:")) for p in prompts]
    assert counts == list(range(1, cells + 1)), f"the cells did not all run, once each, in order: {counts}"
    assert figures >= 1, f"{CHAPTER}: no figure drawn in the lab"
    assert outside == [], f"the lab asked the network for {outside}"
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before, f"running {CHAPTER} in the lab changed the file"
    assert had_checkpoint or not checkpoint.exists(), f"the lab wrote {checkpoint}"
