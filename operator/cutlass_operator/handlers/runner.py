"""The operator in a background thread with its own event loop: for the demo and the tests,
which drive it from synchronous code while it talks to the API like any client would."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import kopf

from cutlass_operator.handlers.config import OperatorConfig, operator_settings
from cutlass_operator.handlers.metrics import OperatorMetrics
from cutlass_operator.handlers.registry import build_registry


class OperatorThread:
    def __init__(
        self, config: OperatorConfig, start_timeout: float = 30.0, metrics: OperatorMetrics | None = None
    ) -> None:
        self._config = config
        self.metrics = metrics or OperatorMetrics()
        self._start_timeout = start_timeout
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="cutlass-operator", daemon=True)

    def __enter__(self) -> OperatorThread:
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError(f"the operator did not start within {self._start_timeout}s: {self._error!r}")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(
                kopf.operator(
                    registry=build_registry(self._config, self.metrics),
                    settings=operator_settings(self._config),
                    clusterwide=not self._config.namespaces,
                    namespaces=self._config.namespaces,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    standalone=True,
                )
            )
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
