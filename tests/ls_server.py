"""A real Label Studio server for the integration tests, in its own virtual environment.

Label Studio pins Django and many other packages, so it never goes into the project's
.venv: it lives in MZIE_LS_VENV (default .ls-venv beside the repository) and is reused
while it imports and reports the expected version. The server listens on 127.0.0.1 only,
keeps its data in a temporary folder, sends nothing out (version check, analytics and
error reporting off), and is stopped by the PID it was started with.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LS_VERSION = "1.23.2"
REPO = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 1200  # seconds for creating the venv and installing Label Studio
START_TIMEOUT = 240  # seconds for migrations and the first answer of /health


def ls_venv() -> Path:
    return Path(os.environ.get("MZIE_LS_VENV") or REPO / ".ls-venv")


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "label-studio").exists() or not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
                           capture_output=True, text=True, timeout=120)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_label_studio(venv: Path | None = None, log_file: Path | None = None) -> Path:
    """The `label-studio` executable, installing it into its own venv when missing or of another version."""
    venv = venv or ls_venv()
    if _installed_version(venv) == LS_VERSION:
        return venv / "bin" / "label-studio"
    base_python = getattr(sys, "_base_executable", sys.executable)  # the interpreter behind .venv
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    try:
        steps = [[base_python, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"label-studio=={LS_VERSION}"]]
        deadline = time.monotonic() + INSTALL_TIMEOUT
        for cmd in steps:
            subprocess.run(cmd, check=True, stdout=out, stderr=out, timeout=max(1, deadline - time.monotonic()))
    finally:
        if log_file:
            out.close()
    if _installed_version(venv) != LS_VERSION:
        raise RuntimeError(f"label-studio=={LS_VERSION} did not install into {venv}; see {log_file}")
    return venv / "bin" / "label-studio"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log_file: Path | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file and log_file.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """Stop a process started with start_new_session=True, and its children, by its PID (= its group id)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


class LabelStudioServer:
    """`label-studio start` on 127.0.0.1 with a preset user and legacy token."""

    def __init__(self, exe: Path, data_dir: Path, token: str, port: int | None = None):
        self.exe, self.data_dir, self.token = exe, data_dir, token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = data_dir / "label-studio.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
        env.update({
            "LABEL_STUDIO_USERNAME": "annotator@example.com",
            "LABEL_STUDIO_PASSWORD": "mzie-test-password",
            "LABEL_STUDIO_USER_TOKEN": self.token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            # The ML backend of the tests runs on 127.0.0.1, which Label Studio refuses by default
            # both as a backend URL and as the webhook URL it registers beside it.
            "ML_BLOCK_LOCAL_IP": "false",
            "SSRF_PROTECTION_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        })
        return env

    def start(self) -> "LabelStudioServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), "--enable-legacy-api-token"],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.data_dir)
        try:
            wait_http(f"{self.url}/health", START_TIMEOUT, self.proc, self.log_file)
        except (RuntimeError, TimeoutError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
