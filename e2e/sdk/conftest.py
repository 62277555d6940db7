"""Fixtures for the real-SDK tests: one `airlock serve --demo --json` per session.

The binary is taken from AIRLOCK_BIN, else
`${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}/debug/airlock`.
AIRLOCK_STARTUP_TIMEOUT (seconds, default 60) bounds the wait for its JSON line.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

# The relay is on loopback: never send that traffic through a proxy from the environment.
for _var in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_var, "").split(",") if h]
    for _h in ("127.0.0.1", "localhost", "::1"):
        if _h not in _hosts:
            _hosts.append(_h)
    os.environ[_var] = ",".join(_hosts)

STARTUP_TIMEOUT = float(os.environ.get("AIRLOCK_STARTUP_TIMEOUT", "60"))
SHUTDOWN_TIMEOUT = float(os.environ.get("AIRLOCK_SHUTDOWN_TIMEOUT", "20"))
ENVIRONMENTS = ("dev", "stg", "prod", "ci")

# Path of the running server's stderr log, for failure reports.
_server_log: Path | None = None


def airlock_bin() -> Path:
    explicit = os.environ.get("AIRLOCK_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "airlock-target")
    return Path(target) / "debug" / "airlock"


def _tail(path: Path | None, limit: int = 8000) -> str:
    if path is None or not path.exists():
        return "(no stderr captured)"
    data = path.read_bytes()
    text = data[-limit:].decode("utf-8", "replace")
    if len(data) > limit:
        text = "...(truncated)...\n" + text
    return text or "(stderr was empty)"


def _read_first_line(stream, timeout: float, proc: subprocess.Popen) -> str | None:
    """Return the first stdout line, or None if the process exits or the time runs out.

    After the first line a daemon thread keeps draining stdout so that a chatty server
    can never block on a full pipe.
    """
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        first = True
        for raw in iter(stream.readline, b""):
            if first:
                lines.put(raw)
                first = False
        if first:
            lines.put(None)

    threading.Thread(target=pump, name="airlock-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            raw = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                # Give the pump a moment to deliver a line written just before exit.
                try:
                    raw = lines.get(timeout=0.5)
                except queue.Empty:
                    return None
            else:
                continue
        return None if raw is None else raw.decode("utf-8", "replace").strip()
    return None


def _stop(proc: subprocess.Popen) -> str | None:
    """SIGTERM, wait, SIGKILL if it hangs. Returns a problem description or None."""
    if proc.poll() is not None:
        return f"airlock had already exited with code {proc.returncode} before the end of the session"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return f"airlock did not stop within {SHUTDOWN_TIMEOUT:.0f}s of SIGTERM and was killed"
    if proc.returncode != 0:
        return f"airlock exited with code {proc.returncode} after SIGTERM (expected a graceful 0)"
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(extra_args: list[str], prefix: str):
    """Start `airlock serve --demo --json` (plus `extra_args`) and yield its parsed
    JSON line; stop it afterwards, failing the session if it does not stop cleanly."""
    global _server_log
    binary = airlock_bin()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"airlock binary not found or not executable at {binary}; "
            "build it with `cargo build -p airlock` or set AIRLOCK_BIN",
            pytrace=False,
        )

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    data_dir = workdir / "demo"
    log_path = workdir / "airlock.stderr.log"
    _server_log = log_path
    cmd = [
        str(binary), "serve", "--demo", "--json",
        "--data-dir", str(data_dir),
        "--relay-addr", "127.0.0.1:0",
        "--console-addr", "127.0.0.1:0",
        *extra_args,
    ]
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log_file,
    )
    try:
        line = _read_first_line(proc.stdout, STARTUP_TIMEOUT, proc)
        if line is None:
            exited = proc.poll()
            why = (
                f"exited with code {exited}"
                if exited is not None
                else f"printed nothing on stdout within {STARTUP_TIMEOUT:.0f}s"
            )
            _stop(proc)
            pytest.fail(
                f"`{' '.join(cmd)}` {why}.\n--- airlock stderr ---\n{_tail(log_path)}",
                pytrace=False,
            )
        try:
            info = json.loads(line)
            assert isinstance(info, dict)
            for field in ("relay_url", "console_url", "email", "password", "keys"):
                assert field in info, f"missing field {field!r}"
            for env in ENVIRONMENTS:
                assert isinstance(info["keys"].get(env), str), f"missing keys.{env}"
                assert info["keys"][env].startswith(env + "_"), f"keys.{env} lacks the {env}_ prefix"
            info["relay_url"] = info["relay_url"].rstrip("/")
        except (ValueError, AssertionError) as err:
            _stop(proc)
            pytest.fail(
                f"airlock's first stdout line is not the expected JSON ({err}): {line!r}\n"
                f"--- airlock stderr ---\n{_tail(log_path)}",
                pytrace=False,
            )
        yield info
    finally:
        problem = _stop(proc)
        log_file.close()
    if problem:
        pytest.fail(
            f"{problem}\n--- airlock stderr ({log_path}) ---\n{_tail(log_path)}", pytrace=False
        )
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def airlock():
    """Start `airlock serve --demo --json` and yield its parsed JSON line.

    Keys of the dict: relay_url, console_url, email, password, keys{dev,stg,prod,ci}.
    """
    yield from _serve([], "airlock-sdk-e2e-")


@pytest.fixture(scope="session")
def mock_upstream_url():
    """`airlock mock-upstream` on a free port: an OpenAI-compatible provider over HTTP."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(airlock_bin()), "mock-upstream", "--addr", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                _stop(proc)
                pytest.fail("airlock mock-upstream did not start", pytrace=False)
            time.sleep(0.1)
    yield url
    _stop(proc)


@pytest.fixture(scope="session")
def same_wire_airlock(mock_upstream_url):
    """The demo with an OpenAI-compatible provider over HTTP (`--upstream`): requests
    take the same-wire path, the app's own body edited in place."""
    yield from _serve(["--upstream", mock_upstream_url + "/v1"], "airlock-sdk-same-wire-")


@pytest.fixture(scope="session")
def relay_url(airlock) -> str:
    return airlock["relay_url"]


@pytest.fixture(scope="session")
def relay_key(airlock) -> str:
    """The key the tests use. `ci` is the environment meant for automated tests and its
    demo limit (50 RPM) leaves room for this suite; override with AIRLOCK_SDK_KEY_ENV."""
    return airlock["keys"][os.environ.get("AIRLOCK_SDK_KEY_ENV", "ci")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # Setup failures of the fixture already quote stderr; add it to failed test calls.
    if (
        report.when == "call"
        and report.failed
        and _server_log is not None
        and "airlock" in getattr(item, "fixturenames", ())
    ):
        report.sections.append(("airlock stderr (tail)", _tail(_server_log, 4000)))
