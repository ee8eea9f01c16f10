"""The embedded Kubernetes API for `cutlass demo`, `cutlass emulator` and the integration tests.

The operator reaches it the way it reaches a cluster: over HTTP, through a kubeconfig (or a kopf
login handler returning `kopf.ConnectionInfo(server=emu.url, ...)`). Two ways to run it:

    async with kube_emulator() as emu:              # in the caller's event loop (async tests)
        emu.write_kubeconfig(path)
        await emu.api.post(...)                     # kmock's client helpers, or any HTTP client

    with KubeEmulatorThread() as emu:               # in a daemon thread (sync code, KopfRunner)
        emu.write_kubeconfig(path)

Run kopf against it with `settings.scanning.disabled = True` when the CRDs are installed before
the operator starts (the demo's order); scanning also works, and then picks up CRDs later.
Install the CRDs by creating them (POST to the customresourcedefinitions endpoint), as
`kubectl apply -f crds/` would. The behaviour behind the URL lives in `kube_server`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import pathlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import kmock
import yaml

from cutlass_operator.emulator.kube_server import KubeApiEmulator

__all__ = [
    "KubeApiEmulator",
    "KubeEmulatorThread",
    "RunningKubeEmulator",
    "kube_emulator",
    "kubeconfig",
    "write_kubeconfig",
]

# kopf and the kubernetes client need some credential in the kubeconfig; the emulator ignores it.
EMULATOR_TOKEN = "cutlass-emulator-token"
_CONTEXT = "cutlass-emulator"
_NOISY_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "kmock")


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig for plain-HTTP access, as both kopf's kubeconfig login and `kubernetes` read it."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": _CONTEXT, "user": {"token": EMULATOR_TOKEN}}],
        "contexts": [{"name": _CONTEXT, "context": {"cluster": _CONTEXT, "user": _CONTEXT, "namespace": namespace}}],
        "current-context": _CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: str | pathlib.Path, url: str, namespace: str = "default") -> pathlib.Path:
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(url, namespace), sort_keys=False), encoding="utf-8")
    return target


@dataclass(frozen=True)
class RunningKubeEmulator:
    """A started emulator: its base URL, and the API object for in-loop inspection in tests."""

    url: str
    api: KubeApiEmulator

    def write_kubeconfig(self, path: str | pathlib.Path, namespace: str = "default") -> pathlib.Path:
        return write_kubeconfig(path, self.url, namespace)


def quiet_access_logs() -> None:
    # Every kopf request would otherwise be an INFO line in the demo's output.
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.asynccontextmanager
async def kube_emulator(host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[RunningKubeEmulator]:
    """Serve the API on `host` (a free port unless given) for the duration of the block."""
    quiet_access_logs()
    async with KubeApiEmulator() as api, kmock.Server(api, host=host, port=port) as server:
        try:
            yield RunningKubeEmulator(url=str(server.url).rstrip("/"), api=api)
        finally:
            await api.end_watches()


class KubeEmulatorThread:
    """The emulator in its own event loop in a daemon thread, for synchronous callers.

    The `api` object belongs to that loop: read it only from there (or over HTTP).
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, start_timeout: float = 30.0) -> None:
        self._host = host
        self._port = port
        self._start_timeout = start_timeout
        self._started: concurrent.futures.Future[RunningKubeEmulator] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)

    def start(self) -> RunningKubeEmulator:
        self._thread.start()
        return self._started.result(timeout=self._start_timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)

    def __enter__(self) -> KubeEmulatorThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> RunningKubeEmulator:
        return self._started.result(timeout=self._start_timeout)

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def api(self) -> KubeApiEmulator:
        return self.running.api

    def write_kubeconfig(self, path: str | pathlib.Path, namespace: str = "default") -> pathlib.Path:
        return self.running.write_kubeconfig(path, namespace)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:
            if not self._started.done():
                self._started.set_exception(e)
            else:
                logging.getLogger(__name__).exception("The Kubernetes API emulator thread failed.")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with kube_emulator(self._host, self._port) as running:
            self._started.set_result(running)
            await self._stopping.wait()
