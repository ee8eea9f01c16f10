"""The embedded Kubernetes API for integration tests.

The emulator runs in its own thread and loop, so it serves both sync tests (kopf's KopfRunner
blocks the caller while the operator shuts down) and async tests (over HTTP from any loop).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from cutlass_operator.emulator.kube import KubeEmulatorThread


@pytest.fixture
def kube_emulator() -> Iterator[KubeEmulatorThread]:
    with KubeEmulatorThread() as emulator:
        yield emulator


@pytest.fixture
def kubeconfig(kube_emulator: KubeEmulatorThread, tmp_path: pathlib.Path) -> pathlib.Path:
    return kube_emulator.write_kubeconfig(tmp_path / "kubeconfig")
