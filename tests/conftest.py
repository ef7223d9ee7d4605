"""Shared test setup: every test runs with a clean, isolated environment.

No developer key or proxy may leak into a test (a real token must never reach a fake), and
the pack's config/state goes to a temporary folder.

Two guards live here too:

* ``loopback_only_network`` (a fixture, and a marker of the same name): the test runs only in a
  network namespace whose only interface is ``lo``, so an address the code must refuse (10.x,
  169.254.x, a public host) can be used without any packet leaving the machine.  ``.ci/run``
  runs the suite that way; by hand:
  ``unshare -n sh -c 'ip link set lo up && exec python -m pytest -q tests/test_X.py'``.
* ``frontend_mode``: module-scoped and parametrized over ``pinned``, ``newest``, ``newest-vue``;
  a browser test module that uses it runs once per frontend (see ``support/browser.py``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SYS_NET = Path("/sys/class/net")
LOOPBACK_ONLY_REASON = "needs a loopback-only network namespace (run under unshare -n …)"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/support importable as "support"

_SCRUBBED = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_API_TOKEN", "HF_ENDPOINT", "CIVITAI_BASE_URL",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "NO_PROXY", "no_proxy", "COMFYUI_MODEL_MANAGER_HOME",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("mm-home")
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMFYUI_MODEL_MANAGER_HOME", str(home / "config"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,127.0.0.2,localhost")
    return home


@pytest.fixture(scope="module")
def files():
    """One loopback model file host per test module (``support.model_files.ModelFileHost``);
    a module that needs another kind of file server defines its own ``files``."""
    from support.model_files import ModelFileHost

    host = ModelFileHost()
    yield host
    host.close()


@pytest.fixture
def manager_factory(tmp_path):
    """``factory(**make_manager kwargs)`` -> a started DownloadManager, shut down after the test."""
    from support.downloads import make_manager

    managers = []

    def factory(**kwargs):
        manager = make_manager(tmp_path, **kwargs)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.shutdown(timeout=5)


def _interface_is_up(name: str) -> bool:
    """SIOCGIFFLAGS on a socket of this process's network namespace: IFF_UP set?"""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh22x", name.encode(), 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(sock.fileno(), 0x8913, request))[1]
    return bool(flags & 0x1)


def loopback_only_problem(sys_net: Path = SYS_NET) -> str | None:
    """None when this process's network namespace has ``lo`` (up) and nothing else.

    The interfaces come from the kernel for this process's namespace (``if_nameindex``), not
    from ``/sys/class/net`` alone: after ``unshare -n`` without a new mount of /sys, sysfs still
    lists the parent namespace's interfaces.  /sys/class/net only adds to the skip reason.
    """
    import socket

    try:
        interfaces = sorted(name for _, name in socket.if_nameindex())
    except OSError as error:
        return f"cannot list network interfaces ({error})"
    if interfaces != ["lo"]:
        try:
            listed = sorted(entry.name for entry in sys_net.iterdir())
        except OSError:
            listed = interfaces
        return f"interfaces: {', '.join(sorted(set(interfaces) | set(listed))) or 'none'}"
    try:
        up = _interface_is_up("lo")
    except OSError:
        up = False
    return None if up else "lo is down (ip link set lo up)"


@pytest.fixture
def loopback_only_network() -> None:
    """Skips the test unless the only network it could reach is this machine's loopback."""
    problem = loopback_only_problem()
    if problem:
        pytest.skip(f"{LOOPBACK_ONLY_REASON}; {problem}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "loopback_only_network: " + LOOPBACK_ONLY_REASON)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("loopback_only_network"):
        problem = loopback_only_problem()
        if problem:
            pytest.skip(f"{LOOPBACK_ONLY_REASON}; {problem}")


@pytest.fixture(scope="module", params=("pinned", "newest", "newest-vue"))
def frontend_mode(request: pytest.FixtureRequest):
    """The frontend this module's browser tests run on now (``support.browser.FrontendMode``);
    a mode this machine cannot run (no ``COMFYUI_FRONTEND_NEW_ROOT``, not in
    ``MM_FRONTEND_MODES``) skips with the reason."""
    from support.browser import FRONTEND_MODES, require_frontend_mode

    assert request.param in FRONTEND_MODES
    return require_frontend_mode(request.param)
