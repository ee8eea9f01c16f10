"""`cutlass demo`: the operator against the embedded emulators, with the example manifests.

It does what a user does on a cluster: install the CRDs, apply the manifests, run the operator,
watch the objects converge and read their status; then it checks in the emulated accounts that
the VPCs the status names really exist there. Exit status 1 when anything fails to become Ready.

The Kubernetes side is a real kube-apiserver and etcd when `make testbin` has built them (the
tables are then `kubectl get`'s own output), else the embedded API emulator; it says which.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cutlass_operator.api.common import GROUP, VERSION
from cutlass_operator.api.crd import build_crds
from cutlass_operator.api.environment import Credentials
from cutlass_operator.aws.session import environment_session
from cutlass_operator.demo_approval import show_approval_flow
from cutlass_operator.demo_compute import check_region_api, check_region_compute, exercise_application
from cutlass_operator.demo_dns import check_environment_dns
from cutlass_operator.emulator.aws import aws_emulator, free_port, pointed_at
from cutlass_operator.emulator.control_plane import ControlPlane, locate_binaries
from cutlass_operator.emulator.kube import KubeEmulatorThread
from cutlass_operator.handlers.config import OperatorConfig
from cutlass_operator.handlers.runner import OperatorThread
from cutlass_operator.printing import render_table
from cutlass_operator.workflows.manifests import manifest_files

PLURALS = {"CutlassEnvironment": "cutlassenvironments", "CutlassRegion": "cutlassregions"}


class Demo:
    def __init__(self, api: client.ApiClient, started: float) -> None:
        # Typed as Any: the client takes plain manifests at runtime, though its hints name its models.
        self.core: Any = client.CoreV1Api(api)
        self.custom: Any = client.CustomObjectsApi(api)
        self.extensions: Any = client.ApiextensionsV1Api(api)
        self.started = started
        self.seen: dict[str, str] = {}

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def install_crds(self) -> None:
        for crd in build_crds():
            self.extensions.create_custom_resource_definition(crd)
            self.say(f"customresourcedefinition {crd['metadata']['name']} created")
        for plural in PLURALS.values():  # a real API server serves a new kind a moment after its CRD
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
                    break
                except ApiException as exc:
                    if exc.status != 404 or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def apply(self, documents: Iterable[dict[str, Any]]) -> None:
        """Namespaces first, then Secrets, then our kinds, whatever order the files list them in."""
        order = ["Namespace", "Secret", *PLURALS]
        for doc in sorted(documents, key=lambda d: order.index(d["kind"]) if d["kind"] in order else len(order)):
            kind, meta = doc["kind"], doc["metadata"]
            if kind == "Namespace":
                self.core.create_namespace(doc)
            elif kind == "Secret":
                self.core.create_namespaced_secret(meta.get("namespace", "default"), doc)
            elif kind in PLURALS:
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, meta.get("namespace", "default"), PLURALS[kind], doc
                )
            else:
                continue
            self.say(f"{kind.lower()}/{meta['name']} created")

    def objects(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURALS[kind])["items"]
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def report_progress(self) -> tuple[bool, bool]:
        """Print what changed since the last look; return (all ready, any failed)."""
        everything = [(kind, obj) for kind in PLURALS for obj in self.objects(kind)]
        for kind, obj in everything:
            key = f"{kind} {obj['metadata']['namespace']}/{obj['metadata']['name']}"
            status = obj.get("status") or {}
            ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
            line = f"{status.get('phase') or 'Pending'}" + (
                f" ({ready['reason']}: {ready['message']})" if ready and ready["status"] != "True" else ""
            )
            if self.seen.get(key) != line:
                self.seen[key] = line
                self.say(f"{key}: {line}")
        phases = [(obj.get("status") or {}).get("phase") for _, obj in everything]
        return bool(everything) and all(p == "Ready" for p in phases), "Failed" in phases

    def tables(self) -> str:
        crds = {crd["spec"]["names"]["kind"]: crd for crd in build_crds()}
        return "\n\n".join(render_table(crds[kind], self.objects(kind)) for kind in PLURALS)

    def check_vpcs(self) -> bool:
        """Each region's VPC, looked up by id in its own account and region through the emulator."""
        environments = {
            (e["metadata"]["namespace"], e["metadata"]["name"]): e for e in self.objects("CutlassEnvironment")
        }
        ok = True
        for region in self.objects("CutlassRegion"):
            env = environments[(region["metadata"]["namespace"], region["spec"]["environmentRef"]["name"])]
            network = (region.get("status") or {}).get("outputs", {}).get("network", {})
            vpc_id = network.get("vpcId")
            ec2 = _account_session(env, region["spec"]["awsRegion"]).client("ec2")
            found = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id or "none"]}])["Vpcs"]
            ok &= bool(found)
            subnets = ", ".join(network.get("publicSubnetIds", []) + network.get("privateSubnetIds", []))
            print(
                f"{region['metadata']['name']:<12} {region['spec']['awsRegion']:<15} account "
                f"{env['spec']['accountId']}  vpc {vpc_id} ({'found' if found else 'MISSING'} in AWS)"
                f"  subnets {subnets}"
            )
        return ok

    def check_compute(self) -> bool:
        """Each region's functions and messaging, then the application at work in each environment's
        primary region (demo_compute.py)."""
        environments = {
            (e["metadata"]["namespace"], e["metadata"]["name"]): e for e in self.objects("CutlassEnvironment")
        }
        ok = True
        for region in self.objects("CutlassRegion"):
            env = environments[(region["metadata"]["namespace"], region["spec"]["environmentRef"]["name"])]
            session = _account_session(env, region["spec"]["awsRegion"])
            ok &= check_region_compute(region, session) & check_region_api(region, session)
        for region in self.objects("CutlassRegion"):
            env = environments[(region["metadata"]["namespace"], region["spec"]["environmentRef"]["name"])]
            if region["spec"]["awsRegion"] == env["spec"].get("primaryRegion", "eu-west-2"):
                print()
                ok &= exercise_application(region, _account_session(env, region["spec"]["awsRegion"]))
        return ok

    def check_tables(self) -> bool:
        """The environment's global tables with their replicas, and one item written in the primary
        region read back from every replica region: replication seen end to end."""
        ok = True
        for env in self.objects("CutlassEnvironment"):
            primary = env["spec"].get("primaryRegion", "eu-west-2")
            for table in (env.get("status") or {}).get("tables", []):
                replicas = ", ".join(f"{r['region']} {r['status']}" for r in table.get("replicas", []))
                print(f"table {table['name']:<28} in {table['region']}  replicas: {replicas or 'none'}")
                ok &= self._read_back(env, primary, table["name"], [r["region"] for r in table.get("replicas", [])])
        return ok

    def check_dns(self) -> bool:
        """Each environment's zone and the records routing its API name (demo_dns.py)."""
        ok = True
        for env in self.objects("CutlassEnvironment"):
            regions = [
                r
                for r in self.objects("CutlassRegion")
                if (r["metadata"]["namespace"], r["spec"]["environmentRef"]["name"])
                == (env["metadata"]["namespace"], env["metadata"]["name"])
            ]
            session = _account_session(env, env["spec"].get("primaryRegion", "eu-west-2"))
            ok &= check_environment_dns(env, regions, session)
        return ok

    def check_approval(self) -> bool:
        """A change planned, printed, approved with `cutlass approve`, and applied (demo_approval.py)."""
        region = self.objects("CutlassRegion")[0]
        env = next(
            e
            for e in self.objects("CutlassEnvironment")
            if (e["metadata"]["namespace"], e["metadata"]["name"])
            == (region["metadata"]["namespace"], region["spec"]["environmentRef"]["name"])
        )
        return show_approval_flow(self.custom, env, region, _account_session(env, region["spec"]["awsRegion"]))

    def _read_back(self, env: dict[str, Any], primary: str, table: str, regions: list[str]) -> bool:
        key = {"pk": {"S": "ORG#cutlass-demo"}, "sk": {"S": "BALANCE"}}
        _account_session(env, primary).client("dynamodb").put_item(
            TableName=table, Item={**key, "remaining": {"N": "1000"}}
        )
        for region in regions:
            item = _account_session(env, region).client("dynamodb").get_item(TableName=table, Key=key).get("Item")
            print(f"  item written in {primary} {'reads back' if item else 'is MISSING'} in {region}")
            if not item:
                return False
        return True


def _account_session(env: dict[str, Any], region: str) -> boto3.Session:
    """The session the operator itself uses for that environment (the demo's manifests assume roles)."""
    return environment_session(Credentials.model_validate(env["spec"].get("credentials", {})), None, region)


def _metrics_summary(port: int) -> str:
    """A few of the operator's own series, scraped from its endpoint as Prometheus would."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    wanted = ("cutlass_reconcile_total", "cutlass_aws_calls_total")
    samples = [line for line in lines if line.startswith(wanted)]
    calls = sum(float(line.rsplit(" ", 1)[1]) for line in samples if line.startswith("cutlass_aws_calls_total"))
    reconciles = [line for line in samples if line.startswith("cutlass_reconcile_total")]
    return "metrics: " + f"{int(calls)} AWS calls; " + "; ".join(reconciles)


@contextmanager
def _kubernetes(tmp: Path) -> Iterator[tuple[Path, str, bool]]:
    """(kubeconfig, what it is, whether it is real): the control plane `make testbin` built, else the emulator."""
    binaries = locate_binaries()
    if binaries is not None:
        with ControlPlane(binaries) as plane:
            yield (
                plane.kubeconfig,
                f"kube-apiserver {binaries.kubernetes_version} with etcd {binaries.etcd_version} on {plane.url} "
                f"(ready in {plane.timings.total:.1f}s)",
                True,
            )
        return
    with KubeEmulatorThread() as kube:
        yield (
            kube.write_kubeconfig(tmp / "kubeconfig"),
            f"the Kubernetes API emulator on {kube.url} (`make testbin` builds a real kube-apiserver)",
            False,
        )


def _kubectl_get(kubeconfig: Path) -> str | None:
    """`kubectl get` as a user types it, when kubectl is installed (the dev extra has it)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    kubectl = shutil.which("kubectl", path=search)
    if kubectl is None:
        return None
    args = ["get", "cutlassenvironments,cutlassregions", "--all-namespaces"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    result = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, check=False)
    return f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}".rstrip()


def run_demo(paths: list[Path], timeout: float = 300.0) -> int:
    # The demo narrates the objects' conditions, which carry what the operator's logs would repeat.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("kopf").setLevel(logging.CRITICAL)
    documents = [d for f in manifest_files(paths) for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="cutlass-demo-") as tmp,
        aws_emulator() as endpoint,
        pointed_at(endpoint),
        _kubernetes(Path(tmp)) as (kubeconfig, kubernetes, real),
    ):
        os.environ["KUBECONFIG"] = str(kubeconfig)
        demo = Demo(config.new_client_from_config(config_file=str(kubeconfig)), started)
        demo.say(f"AWS emulator on {endpoint}; Kubernetes: {kubernetes}")
        demo.install_crds()
        demo.apply(documents)
        with OperatorThread(OperatorConfig(resync_seconds=60, retry_seconds=2)) as operator:
            metrics = operator.metrics.serve(free_port(), "127.0.0.1")
            demo.say(f"operator started; metrics on http://127.0.0.1:{metrics.server_port}/metrics")
            ready = failed = False
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and operator.alive and not (ready or failed):
                time.sleep(1)
                ready, failed = demo.report_progress()
            print()
            print((real and _kubectl_get(kubeconfig)) or demo.tables())
            print()
            checked = demo.check_vpcs()
            print()
            checked &= demo.check_tables()
            print()
            checked &= demo.check_dns()
            print()
            checked &= demo.check_compute()
            print()
            checked &= ready and demo.check_approval()
            print()
            print(_metrics_summary(metrics.server_port))
            metrics.shutdown()
        elapsed = time.monotonic() - started
    if ready and checked:
        print(f"\nAll environments and regions are Ready ({elapsed:.1f}s).")
        return 0
    print(f"\nNot everything became Ready within {timeout:.0f}s (failed: {failed}).")
    return 1
