"""What the e2e tests drive: kubectl as users run it, the operator as a process, AWS as boto3 sees it.

Everything here talks to the outside the way a user would: `kubectl` (the PyPI wheel's binary)
with a kubeconfig, `cutlass run` in its own process (so SIGKILL is a real crash), and boto3
against the moto server with the operator's role assumed in the environment's account.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
import yaml

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.aws.session import environment_session
from cutlass_operator.emulator.aws import EMULATOR_ENV
from cutlass_operator.engine.identity import KEY, WORKSPACE

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# Figures printed in the session's terminal summary (start-up and converge times).
FIGURES: dict[str, str] = {}


def venv_tool(name: str) -> str:
    """A tool installed next to this Python (the dev extra's `kubectl`, the package's `cutlass`)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is neither in {VENV_BIN} nor on PATH: run `make install`")
    return found


# --- kubectl -------------------------------------------------------------------------------------------


class KubectlError(AssertionError):
    """kubectl failed where the test expected it to succeed; the message holds its output."""


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    binary: str

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; past `timeout` (default: its own `--timeout=Ns` plus 30 s, else 60 s) it is killed
        and reported like any failure, so a hung call never outlives the fixture that made it."""
        if timeout is None:
            own = [float(a[len("--timeout=") : -1]) for a in args if a.startswith("--timeout=") and a.endswith("s")]
            timeout = own[0] + 30 if own else 60.0
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        try:
            result = subprocess.run(
                [self.binary, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            result = subprocess.CompletedProcess(exc.cmd, 124, out, err + f"\n(killed after {timeout:.0f}s)")
        if check and result.returncode != 0:
            raise KubectlError(
                f"kubectl {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def get(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json").stdout)

    def apply_documents(self, documents: Iterable[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("apply", *extra, "-f", "-", stdin=yaml.safe_dump_all(list(documents), sort_keys=False))

    def wait(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return self.run("wait", *args, f"--timeout={timeout:.0f}s")


def is_kustomization(path: Path) -> bool:
    """kustomize's own file: a build recipe for `kubectl apply -k`, not an object to apply."""
    return path.name in ("kustomization.yaml", "kustomization.yml", "Kustomization")


def manifest_paths(*paths: Path) -> list[Path]:
    """The YAML files that hold Kubernetes objects, as `kubectl apply -R -f` would walk them."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    return [f for f in files if not is_kustomization(f)]


def load_documents(*paths: Path) -> list[dict[str, Any]]:
    return [d for f in manifest_paths(*paths) for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]


# --- the cluster ----------------------------------------------------------------------------------------

CRD_NAMES = ("cutlassenvironments.cutlass.tech", "cutlassregions.cutlass.tech")


@dataclass
class Cluster:
    """A cluster kubectl reaches through `kubeconfig`; `local` when this session started it."""

    kubeconfig: Path
    kubectl: Kubectl
    local: bool
    version: str
    namespaces: list[str] = field(default_factory=list)

    def namespace(self, name: str) -> str:
        """Create (or keep) a namespace; on an existing cluster it is deleted at the end."""
        self.kubectl.apply_documents([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
        if name not in self.namespaces:
            self.namespaces.append(name)
        return name


@dataclass(frozen=True)
class InstalledCrds:
    output: str  # what `kubectl apply -f crds/` printed, warnings included


# --- the operator ---------------------------------------------------------------------------------------


class OperatorProcess:
    """`cutlass run` watching some namespaces, its output in a log file the failures quote."""

    def __init__(
        self,
        kubeconfig: Path,
        aws_endpoint: str,
        namespaces: Sequence[str],
        log_path: Path,
        *,
        resync_seconds: float = 60,
        metrics_port: int | None = None,  # None: the operator's default
    ) -> None:
        self.kubeconfig = kubeconfig
        self.aws_endpoint = aws_endpoint
        self.namespaces = tuple(namespaces)
        self.log_path = log_path
        self.resync_seconds = resync_seconds
        self.metrics_port = metrics_port
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> OperatorProcess:
        assert self._popen is None or self._popen.poll() is not None, "already running"
        env = {
            **os.environ,
            **EMULATOR_ENV,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "KUBECONFIG": str(self.kubeconfig),  # the login handler reads it when it runs
            "PYTHONUNBUFFERED": "1",
        }
        argv = [venv_tool("cutlass"), "--log-format", "json", "run", "--resync-seconds", str(self.resync_seconds)]
        if self.metrics_port is not None:
            argv += ["--metrics-port", str(self.metrics_port)]
        for namespace in self.namespaces:
            argv += ["--namespace", namespace]
        self._log = self.log_path.open("ab")
        self.starts += 1
        self._log.write(f"===== start {self.starts}: {' '.join(argv)}\n".encode())
        self._log.flush()
        self._popen = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no last status patch; exactly what a node failure does."""
        assert self._popen is not None
        self._popen.send_signal(signal.SIGKILL)
        self._popen.wait(10)
        self._close_log()

    def stop(self, timeout: float = 20.0) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# --- AWS, as the environment's role sees it ---------------------------------------------------------------


def move_to_account(doc: dict[str, Any], account: str, credentials: dict[str, Any]) -> dict[str, Any]:
    """A manifest of manifests/dev acting in another account: the environment's account and
    credentials, and a region's certificate issued there (one of another account is refused)."""
    if doc["kind"] == "CutlassEnvironment":
        doc["spec"]["accountId"] = account
        doc["spec"]["credentials"] = credentials
    if certificate := doc["spec"].get("api", {}).get("certificateArn"):
        parts = certificate.split(":", 5)  # arn:aws:acm:<region>:<account>:certificate/<id>
        doc["spec"]["api"]["certificateArn"] = ":".join([*parts[:4], account, parts[5]])
    return doc


def dev_manifests_in(namespace: str, account: str) -> list[dict[str, Any]]:
    """manifests/dev in a namespace and an account of a module's own (the namespace not included:
    the module creates it), its credentials assuming the operator's role there."""
    role = f"arn:aws:iam::{account}:role/cutlass-operator"
    documents = []
    for doc in load_documents(ROOT / "manifests" / "dev"):
        if doc["kind"] == "Namespace":
            continue
        doc["metadata"]["namespace"] = namespace
        documents.append(move_to_account(doc, account, {"source": "AssumeRole", "roleArn": role}))
    return documents


def account_session(role_arn: str, aws_region: str) -> boto3.Session:
    """A session acting in the role's account (moto's AssumeRole honours the account in the ARN)."""
    return environment_session(Credentials(source=CredentialsSource.ASSUME_ROLE, role_arn=role_arn), None, aws_region)


@dataclass(frozen=True)
class Tagged:
    """One live AWS resource carrying the operator's tags."""

    kind: str
    id: str
    key: str  # `cutlass.tech/key`: the desired entry it was made for; two live ones are a duplicate
    name: str


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def workspace_resources(session: boto3.Session, workspace: str) -> list[Tagged]:
    """Every live resource tagged for the workspace in the session's account and region.

    EC2 is read kind by kind (the tagging API does not return EIPs or VPC endpoints, and deleted
    NAT gateways and endpoints linger for a while in AWS's lists, which do not count); everything
    else through the tagging API, skipping KMS keys already scheduled for deletion.
    """
    ec2: Any = session.client("ec2")
    tagged = [{"Name": f"tag:{WORKSPACE}", "Values": [workspace]}]
    found: list[Tagged] = []

    def add(kind: str, items: Iterable[dict[str, Any]], id_key: str) -> None:
        for item in items:
            tags = _tags(item.get("Tags"))
            found.append(Tagged(kind, item[id_key], tags.get(KEY, ""), tags.get("Name", "")))

    add("vpc", ec2.describe_vpcs(Filters=tagged)["Vpcs"], "VpcId")
    add("subnet", ec2.describe_subnets(Filters=tagged)["Subnets"], "SubnetId")
    add("internet-gateway", ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"], "InternetGatewayId")
    add("route-table", ec2.describe_route_tables(Filters=tagged)["RouteTables"], "RouteTableId")
    add("security-group", ec2.describe_security_groups(Filters=tagged)["SecurityGroups"], "GroupId")
    add("eip", ec2.describe_addresses(Filters=tagged)["Addresses"], "AllocationId")
    add(
        "nat-gateway",
        (
            n
            for n in ec2.describe_nat_gateways(Filter=tagged)["NatGateways"]
            if n["State"] not in ("deleting", "deleted")
        ),
        "NatGatewayId",
    )
    add(
        "vpc-endpoint",
        (
            e
            for e in ec2.describe_vpc_endpoints(Filters=tagged)["VpcEndpoints"]
            if e["State"].lower() not in ("deleting", "deleted")
        ),
        "VpcEndpointId",
    )
    add("flow-log", ec2.describe_flow_logs(Filters=tagged)["FlowLogs"], "FlowLogId")

    tagging: Any = session.client("resourcegroupstaggingapi")
    pages = tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": WORKSPACE, "Values": [workspace]}])
    for page in pages:
        for mapping in page["ResourceTagMappingList"]:
            arn: str = mapping["ResourceARN"]
            service = arn.split(":")[2]
            if service == "ec2" or (service == "kms" and _kms_key_deleted(session, arn)):
                continue
            tags = _tags(mapping.get("Tags"))
            found.append(Tagged(service, arn, tags.get(KEY, ""), tags.get("Name", "")))
    return found


def _kms_key_deleted(session: boto3.Session, arn: str) -> bool:
    kms: Any = session.client("kms")
    state: str = kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"]
    return state in ("PendingDeletion", "PendingReplicaDeletion")


def duplicates(resources: Iterable[Tagged]) -> dict[tuple[str, str], int]:
    """(kind, key) pairs held by more than one live resource."""
    counts = Counter((r.kind, r.key or r.name or r.id) for r in resources)
    return {pair: n for pair, n in counts.items() if n > 1}


def wait_until(check: Any, timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)
