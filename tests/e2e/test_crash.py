"""A crash mid-converge: SIGKILL the operator while it is creating the demo environment's resources,
start it again, and it finishes without duplicating anything.

This is the promise "identity is by tags, never by memory" made on a real API server: the killed
process leaves kopf's progress annotations half-written and AWS half-built, with no status for
what it created last; the new process must find those resources by their tags and carry on.
The environment is the demo's, moved to its own namespace and account (222222222222), so this
module shares nothing with the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.support import (
    FIGURES,
    Cluster,
    InstalledCrds,
    OperatorProcess,
    account_session,
    dev_manifests_in,
    duplicates,
    wait_until,
    workspace_resources,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "e2e-crash"
ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cutlass-operator"
REGIONS = {"dev-london": "eu-west-2", "dev-sydney": "ap-southeast-2"}
CONVERGE_SECONDS = 180


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, crds: InstalledCrds, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    cluster.namespace(NAMESPACE)
    log = tmp_path_factory.mktemp("operator") / "crash-operator.log"
    process = OperatorProcess(cluster.kubeconfig, aws_endpoint, [NAMESPACE], log)
    try:
        yield process
    finally:
        try:  # leave no finalizer behind on a cluster that outlives the session
            if not process.alive:
                process.start()  # the finalizers need an operator to let the objects go
            cluster.kubectl.run(
                "delete", "cutlassregions,cutlassenvironments", "--all", "-n", NAMESPACE, "--timeout=60s", check=False
            )
        finally:
            process.stop()


def test_an_operator_killed_mid_converge_finishes_after_a_restart_without_duplicates(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    london = account_session(ROLE, REGIONS["dev-london"])
    cluster.kubectl.apply_documents(dev_manifests_in(NAMESPACE, ACCOUNT))
    operator.start()

    # Kill it as soon as AWS holds the first piece of the London network: mid-converge.
    wait_until(
        lambda: workspace_resources(london, "dev-london"),
        timeout=CONVERGE_SECONDS,
        interval=0.05,
        what="the first London resource",
    )
    operator.kill()
    at_kill = {name: workspace_resources(account_session(ROLE, r), name) for name, r in REGIONS.items()}
    phases = cluster.kubectl.run(
        "get", "cutlassregions", "-n", NAMESPACE, "-o", "jsonpath={range .items[*]}{.status.phase}{' '}{end}"
    ).stdout.split()
    FIGURES["crash"] = (
        f"SIGKILL with {sum(len(v) for v in at_kill.values())} resources in AWS and region phases {phases or 'unset'}"
    )
    assert phases.count("Ready") < len(REGIONS), f"every region was already Ready when killed: {phases}"

    started = time.monotonic()
    operator.start()
    try:
        cluster.kubectl.wait(
            "--for=condition=Ready",
            "cutlassregion/dev-london",
            "cutlassregion/dev-sydney",
            "cutlassenvironment/dev",
            "-n",
            NAMESPACE,
            timeout=CONVERGE_SECONDS,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- operator log:\n{operator.tail()}") from None
    FIGURES["crash"] += f"; Ready {time.monotonic() - started:.1f}s after the restart"

    for name, aws_region in REGIONS.items():
        resources = workspace_resources(account_session(ROLE, aws_region), name)
        assert duplicates(resources) == {}, f"{name}: duplicates after the restart: {duplicates(resources)}"
        vpcs = [r.id for r in resources if r.kind == "vpc"]
        status_vpc = cluster.kubectl.run(
            "get", f"cutlassregion/{name}", "-n", NAMESPACE, "-o", "jsonpath={.status.outputs.network.vpcId}"
        ).stdout
        assert vpcs == [status_vpc], (name, vpcs, status_vpc)
        # Everything that existed at the kill is still the resource in use: adopted, not replaced.
        assert {r.id for r in at_kill[name]} <= {r.id for r in resources}, name
