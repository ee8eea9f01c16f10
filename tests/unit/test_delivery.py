"""What ships the operator: the Dockerfile, the Helm chart (its CRDs, values schema and RBAC), checked
without Docker, a cluster or the network.

The chart's RBAC is compared with what the code needs, derived from the code itself: the resources
of every kopf handler in the operator's registry, what kopf does for each kind of handler (watch,
patch its finalizer and annotations, patch `/status` when the CRD has that subresource, post
events), kopf's settings (resource scanning, peering), and the Kubernetes client calls the
handlers make on their own. Rendering needs helm (`make helm`); without it the rendered checks
skip, unless CUTLASS_REQUIRE_HELM=1 (which `make chart-check` sets) makes that a failure.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cutlass_operator.handlers.config import OperatorConfig, operator_settings
from cutlass_operator.handlers.registry import build_registry

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cutlass-operator"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# --- the Dockerfile -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """Instructions per stage (continuation lines joined, comments dropped); ARGs before FROM dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[Instruction]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(Instruction(keyword.upper(), args.strip()))
    return stages


def _all(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


class TestDockerfile:
    def test_it_has_a_build_stage_and_a_runtime_stage(self) -> None:
        build, runtime = dockerfile_stages()
        assert re.search(r"\bAS\s+build\b", build[0].args, re.IGNORECASE)
        assert " AS " not in runtime[0].args.upper()
        assert "slim" in DOCKERFILE.read_text().split("PYTHON_IMAGE=", 1)[1].split()[0]

    def test_the_build_stage_builds_this_repository_into_wheels(self) -> None:
        build, _ = dockerfile_stages()
        copied = " ".join(_all(build, "COPY")).split()
        readme = PYPROJECT["project"]["readme"]
        sources = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]
        for needed in ("pyproject.toml", readme, *sources):
            assert needed in copied, f"the build stage does not COPY {needed}"
        assert any(re.search(r"pip wheel .*--wheel-dir /wheels \.$", run) for run in _all(build, "RUN"))

    def test_the_runtime_stage_installs_exactly_this_package_from_those_wheels(self) -> None:
        _, runtime = dockerfile_stages()
        assert "--from=build /wheels /wheels" in _all(runtime, "COPY")
        (install,) = [run for run in _all(runtime, "RUN") if "pip install" in run]
        words = shlex.split(install.split("&&")[0])
        assert "--no-index" in words and "--find-links=/wheels" in words
        assert words[-1] == PYPROJECT["project"]["name"]
        assert "cutlass" in PYPROJECT["project"]["scripts"]

    def test_the_runtime_stage_has_no_compilers_or_package_managers_left(self) -> None:
        _, runtime = dockerfile_stages()
        runs = " ".join(_all(runtime, "RUN"))
        for tool in ("apt-get install", "apk add", "gcc", "build-essential", "make ", "g++"):
            assert tool not in runs, tool
        assert "pip uninstall --yes pip" in runs
        assert not [c for c in _all(runtime, "COPY") if "--from=build" not in c]

    def test_it_runs_as_a_non_root_user(self) -> None:
        _, runtime = dockerfile_stages()
        (user,) = _all(runtime, "USER")
        uid = user.split(":")[0]
        assert uid not in ("root", "0") and uid.isdigit(), "a numeric uid lets runAsNonRoot verify it"
        assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(_all(runtime, "ENV"))  # read-only root filesystem

    def test_the_entrypoint_is_cutlass_run_with_the_liveness_endpoint(self) -> None:
        _, runtime = dockerfile_stages()
        (entrypoint,) = _all(runtime, "ENTRYPOINT")
        argv = json.loads(entrypoint)
        assert argv[0] == "cutlass" and "run" in argv
        assert "--liveness" in argv and argv[argv.index("--liveness") + 1].endswith(":8080/healthz")
        assert "8080" in " ".join(_all(runtime, "EXPOSE"))

    def test_it_carries_the_oci_labels(self) -> None:
        _, runtime = dockerfile_stages()
        labels = " ".join(_all(runtime, "LABEL"))
        for key in ("title", "description", "version", "revision", "licenses"):
            assert f"org.opencontainers.image.{key}=" in labels, key


# --- the chart's files ----------------------------------------------------------------------------------------


def test_the_chart_crds_are_the_top_level_crds() -> None:
    top = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert top, "no CRDs in crds/"
    assert chart.keys() == top.keys(), "charts/cutlass-operator/crds/ lists other files than crds/"
    stale = [name for name in top if chart[name] != top[name]]
    assert not stale, f"stale chart CRDs (cp crds/*.yaml charts/cutlass-operator/crds/): {stale}"


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _schema_errors(values: dict[str, Any]) -> list[str]:
    schema = json.loads((CHART / "values.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]


class TestValuesSchema:
    def test_the_schema_is_valid_json_schema(self) -> None:
        jsonschema.Draft202012Validator.check_schema(json.loads((CHART / "values.schema.json").read_text()))

    def test_values_yaml_satisfies_the_schema(self) -> None:
        assert _schema_errors(_values()) == []

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("replicaCount",), 2),  # standalone: one operator at a time
            (("operator", "logFormat"), "xml"),
            (("operator", "watchNamespaces"), ["Not_A_Namespace"]),
            (("operator", "resyncSeconds"), 0),
            (("operator", "awsEndpointUrl"), "moto:5000"),
            (("serviceAccount", "roleArn"), "arn:aws:iam::123:role/x"),
            (("rbac", "secretAccess"), [{"names": ["x"]}]),
            (("metrics", "port"), 70000),
            (("operator", "watchNamespace"), ["typo"]),
        ],
    )
    def test_the_schema_refuses_a_wrong_value(self, path: tuple[str, ...], value: Any) -> None:
        values = _values()
        target = values
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert _schema_errors(values), f"{'.'.join(path)}={value!r} was accepted"


# --- RBAC: what the code needs ------------------------------------------------------------------------------

Rule = tuple[str, str, str]  # (apiGroup, resource, verb)


def _crd_subresources() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for path in (ROOT / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            found[(crd["spec"]["group"], crd["spec"]["names"]["plural"])] = set(version.get("subresources", {}))
    return found


def kopf_needs(config: OperatorConfig) -> set[Rule]:
    """What kopf itself asks of the API for the operator's registry and settings."""
    registry = build_registry(config)
    settings = operator_settings(config)
    subresources = _crd_subresources()
    rules: set[Rule] = set()
    watched = [*registry._indexing.get_all_handlers(), *registry._watching.get_all_handlers()]
    changing = [*registry._changing.get_all_handlers(), *registry._spawning.get_all_handlers()]
    assert not registry._webhooks.get_all_handlers(), "admission webhooks need RBAC this test does not derive"

    def resource(handler: Any) -> tuple[str, str]:
        selector = handler.selector
        plural = selector.plural or selector.any_name  # the handlers name their kinds by plural
        assert (selector.group, plural) in subresources, f"{handler.id}: {plural} is none of crds/"
        return selector.group, plural

    for handler in watched + changing:
        group, plural = resource(handler)
        rules |= {(group, plural, "list"), (group, plural, "watch")}
    for handler in changing:
        group, plural = resource(handler)
        # Finalizers and progress annotations: merge- and JSON-patches of the object.
        rules.add((group, plural, "patch"))
        # kopf writes `status` through the subresource when the CRD declares one.
        if "status" in subresources[(group, plural)]:
            rules.add((group, f"{plural}/status", "patch"))
    if settings.posting.enabled:
        rules.add(("", "events", "create"))  # kopf posts core/v1 Events
    if not settings.scanning.disabled:
        rules |= {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
        rules |= {("", "namespaces", v) for v in ("list", "watch")}
    if not settings.peering.standalone:
        for plural in ("kopfpeerings", "clusterkopfpeerings"):
            rules |= {("kopf.dev", plural, v) for v in ("list", "watch", "patch")}
    return rules


_CLIENT_VERBS = {"read": "get", "list": "list", "create": "create", "patch": "patch", "replace": "update"}
_CLIENT_VERBS |= {"delete": "delete"}


def operator_client_needs() -> set[Rule]:
    """The handlers' own calls through the Kubernetes client (`CoreV1Api().read_namespaced_secret`)."""
    rules: set[Rule] = set()
    pattern = re.compile(r"^(read|list|create|patch|replace|delete)_namespaced_([a-z_]+?)(_status)?$")
    for path in (ROOT / "operator" / "cutlass_operator" / "handlers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (match := pattern.match(node.attr)):
                verb, kind, status = match.groups()
                plural = kind + "s"  # secret -> secrets, config_map -> config_maps (checked below)
                rules.add(("", plural + ("/status" if status else ""), _CLIENT_VERBS[verb]))
    return rules


def _rules(documents: list[dict[str, Any]]) -> set[Rule]:
    return {
        (group, resource, verb)
        for doc in documents
        for rule in doc.get("rules", [])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_operator_runs_standalone_so_it_needs_no_peering_rbac() -> None:
    """kopf's default auto-detects peering: where another operator installed kopf's peering CRDs,
    ours would start peering and be refused (the chart grants no kopfpeerings)."""
    assert operator_settings(OperatorConfig()).peering.standalone, (
        "set settings.peering.standalone = True in handlers/config.py:operator_settings"
    )


def test_the_chart_rules_are_exactly_what_kopf_needs_for_the_operator() -> None:
    """The rules block of templates/_helpers.tpl is plain YAML: compare it without rendering."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = helpers.split('{{- define "cutlass-operator.rules" -}}', 1)[1].split("{{- end }}", 1)[0]
    assert _rules([{"rules": yaml.safe_load(block)}]) == kopf_needs(OperatorConfig())


def test_the_operator_itself_only_reads_secrets() -> None:
    """Which the chart grants per namespace (rbac.secretAccess), never cluster-wide."""
    assert operator_client_needs() == {("", "secrets", "get")}


# --- the rendered chart ---------------------------------------------------------------------------------------


def helm_binary() -> Path | None:
    version = re.search(r"helm\.sh/helm/v3 (v\S+)", (ROOT / "tools" / "helm" / "go.mod").read_text())
    assert version, "tools/helm/go.mod does not require helm.sh/helm/v3"
    path = Path(os.environ.get("CUTLASS_HELM") or ROOT / "tools" / "helm" / "bin" / version.group(1) / "helm")
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def helm() -> Path:
    path = helm_binary()
    if path is None:
        if os.environ.get("CUTLASS_REQUIRE_HELM") == "1":
            pytest.fail("no helm binary: run `make helm`")
        pytest.skip("no helm binary: run `make helm` (or `make chart-check`)")
    return path


@cache
def _render(helm: Path, *args: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [str(helm), "template", "cutlass", str(CHART), "--namespace", "cutlass-system", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    return list(_render(helm, *args))


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


NAMESPACED = ("--set", "operator.watchNamespaces={cutlass-dev,cutlass-prod}")
SECRETS = ("--set-json", 'rbac.secretAccess=[{"namespace":"cutlass-dev","names":["aws-dev"]},{"namespace":"ops"}]')


class TestRenderedRbac:
    def test_watching_all_namespaces_binds_one_cluster_role_with_exactly_the_needed_rules(self, helm: Path) -> None:
        docs = render(helm)
        (role,) = of_kind(docs, "ClusterRole")
        (binding,) = of_kind(docs, "ClusterRoleBinding")
        assert _rules([role]) == kopf_needs(OperatorConfig())
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        (account,) = of_kind(docs, "ServiceAccount")
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "cutlass-system"}
        ]
        assert not of_kind(docs, "Role") and not of_kind(docs, "RoleBinding")

    def test_watching_namespaces_makes_a_role_in_each_and_nothing_cluster_wide(self, helm: Path) -> None:
        docs = render(helm, *NAMESPACED)
        assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
        roles = {r["metadata"]["namespace"]: r for r in of_kind(docs, "Role")}
        assert roles.keys() == {"cutlass-dev", "cutlass-prod"}
        config = OperatorConfig(namespaces=("cutlass-dev", "cutlass-prod"))
        for role in roles.values():
            assert _rules([role]) == kopf_needs(config)
        bindings = {b["metadata"]["namespace"]: b["roleRef"]["name"] for b in of_kind(docs, "RoleBinding")}
        assert bindings == {ns: r["metadata"]["name"] for ns, r in roles.items()}

    def test_secrets_are_readable_only_where_rbac_secret_access_says(self, helm: Path) -> None:
        docs = render(helm, *SECRETS)
        roles = {r["metadata"]["namespace"]: r for r in of_kind(docs, "Role")}
        assert roles.keys() == {"cutlass-dev", "ops"}
        assert roles["cutlass-dev"]["rules"] == [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["aws-dev"]}
        ]
        assert _rules([roles["ops"]]) == operator_client_needs()
        assert not [r for r in of_kind(docs, "ClusterRole") if "secrets" in json.dumps(r)]

    def test_no_rbac_when_disabled(self, helm: Path) -> None:
        docs = render(helm, "--set", "rbac.create=false", *SECRETS)
        assert not {d["kind"] for d in docs} & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = of_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


class TestRenderedDeployment:
    def test_it_runs_cutlass_run_with_the_settings(self, helm: Path) -> None:
        docs = render(
            helm,
            *NAMESPACED,
            "--set",
            "operator.resyncSeconds=120,operator.logFormat=console,operator.maxWorkers=8",
        )
        container = _container(docs)
        argv = container["command"] + container["args"]
        assert argv[:3] == ["cutlass", "--log-format=console", "run"]
        for arg in ("--resync-seconds=120", "--max-workers=8", "--metrics-port=8000"):
            assert arg in argv
        assert [a for a in argv if a.startswith("--namespace=")] == [
            "--namespace=cutlass-dev",
            "--namespace=cutlass-prod",
        ]

    def test_the_probes_ask_the_liveness_endpoint_the_operator_serves(self, helm: Path) -> None:
        container = _container(render(helm))
        liveness = next(a for a in container["args"] if a.startswith("--liveness="))
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in (container["livenessProbe"], container["readinessProbe"]):
            assert liveness == f"--liveness=http://0.0.0.0:{ports[probe['httpGet']['port']]}{probe['httpGet']['path']}"

    def test_it_is_locked_down(self, helm: Path) -> None:
        docs = render(helm)
        (deployment,) = of_kind(docs, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        container = _container(docs)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two operators at once
        assert container["resources"]["limits"]["memory"]

    def test_aws_settings_reach_the_container(self, helm: Path) -> None:
        docs = render(
            helm,
            "--set",
            "operator.awsEndpointUrl=http://moto:5000,serviceAccount.roleArn=arn:aws:iam::111111111111:role/op",
            "--set-json",
            'extraEnv=[{"name":"AWS_STS_REGIONAL_ENDPOINTS","value":"regional"}]',
        )
        env = {e["name"]: e.get("value") for e in _container(docs)["env"]}
        assert env["AWS_ENDPOINT_URL"] == "http://moto:5000"
        assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
        (account,) = of_kind(docs, "ServiceAccount")
        assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/op"}


class TestRenderedMetrics:
    def test_a_service_named_metrics_on_port_8000_reaches_the_container(self, helm: Path) -> None:
        docs = render(helm)
        (service,) = of_kind(docs, "Service")
        (port,) = service["spec"]["ports"]
        assert (port["name"], port["port"], port["targetPort"]) == ("metrics", 8000, "metrics")
        assert {"name": "metrics", "containerPort": 8000, "protocol": "TCP"} in _container(docs)["ports"]
        (deployment,) = of_kind(docs, "Deployment")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert not of_kind(docs, "ServiceMonitor")

    def test_the_service_monitor_is_optional_and_scrapes_that_port(self, helm: Path) -> None:
        docs = render(helm, "--set", "metrics.serviceMonitor.enabled=true")
        (monitor,) = of_kind(docs, "ServiceMonitor")
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]

    def test_metrics_can_be_turned_off(self, helm: Path) -> None:
        docs = render(helm, "--set", "metrics.enabled=false,metrics.serviceMonitor.enabled=true")
        assert not of_kind(docs, "Service") and not of_kind(docs, "ServiceMonitor")
        assert not [a for a in _container(docs)["args"] if a.startswith("--metrics-port")]


def test_every_rendered_object_is_well_formed(helm: Path) -> None:
    """The offline part of `kubectl apply --dry-run=client`: every document has an apiVersion, a
    kind and a DNS-1123 name; namespaced ones carry their namespace (the server-side dry run is
    tests/e2e/test_delivery.py)."""
    name = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
    for args in ((), NAMESPACED, SECRETS, ("--set", "metrics.serviceMonitor.enabled=true")):
        for doc in render(helm, *args):
            assert doc.get("apiVersion") and doc.get("kind"), doc
            assert name.match(doc["metadata"]["name"]), doc["metadata"]
            assert ("namespace" in doc["metadata"]) == (doc["kind"] not in cluster_scoped), doc["metadata"]


# --- the six workspaces ---------------------------------------------------------------------------------------

SEED = {  # environment: (account, tier); every environment has the seed's two regions and CIDRs
    "dev": ("111111111111", "dev"),
    "staging": ("222222222222", "staging"),
    "prod": ("333333333333", "prod"),
}
SEED_REGIONS = {
    "london": ("eu-west-2", "10.0.0.0/16", ["10.0.1.0/24", "10.0.2.0/24"], ["10.0.3.0/24", "10.0.4.0/24"]),
    "sydney": ("ap-southeast-2", "10.1.0.0/16", ["10.1.1.0/24", "10.1.2.0/24"], ["10.1.3.0/24", "10.1.4.0/24"]),
}


@pytest.mark.parametrize("env", SEED)
def test_each_environment_folder_holds_the_seed_workspaces(env: str) -> None:
    from cutlass_operator.workflows.manifests import load_manifests

    account, tier = SEED[env]
    manifests = load_manifests([ROOT / "manifests" / env])  # the models validate every field
    (environment,) = manifests.environments
    assert (environment.name, environment.metadata.namespace) == (env, f"cutlass-{env}")
    assert (environment.spec.account_id, environment.spec.tier.value) == (account, tier)
    assert environment.spec.credentials.role_arn == f"arn:aws:iam::{account}:role/cutlass-operator"
    regions = {r.spec.region: r for r in manifests.regions_of(environment)}
    assert regions.keys() == SEED_REGIONS.keys()
    for name, (aws_region, vpc, public, private) in SEED_REGIONS.items():
        region = regions[name]
        assert region.name == f"{env}-{name}" and region.spec.aws_region == aws_region
        network = region.spec.network
        assert (network.vpc_cidr, network.public_subnet_cidrs, network.private_subnet_cidrs) == (vpc, public, private)
        assert region.spec.api.stage == tier


@pytest.mark.parametrize("env", SEED)
def test_each_kustomization_lists_every_file_of_its_folder(env: str) -> None:
    folder = ROOT / "manifests" / env
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    files = sorted(p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
