"""The embedded Kubernetes API behaves like a real API server where kopf and our demo rely on it.

API semantics are checked over HTTP against the in-loop emulator (`kube.kube_emulator()`);
kopf and the `kubernetes` client run against the thread-backed one (the `kube_emulator` fixture).
The test CRD is our own, so these tests do not depend on the generated `crds/`; those are
installed by a separate test when present.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import kopf
import kubernetes
import pytest
import yaml
from kopf.testing import KopfRunner

from cutlass_operator.emulator import kube
from cutlass_operator.emulator.kube import KubeEmulatorThread
from cutlass_operator.emulator.kube_objects import matches_labels

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL, KIND = "cutlass.tech", "v1alpha1", "testwidgets", "TestWidget"
CRDS_URL = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS_URL = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PROJECT_CRDS = sorted((pathlib.Path(__file__).parents[2] / "crds").glob("*.yaml"))


def widget_crd(*, status_subresource: bool = True) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer"},
                    "tier": {"type": "string", "default": "dev"},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "testwidget", "kind": KIND, "shortNames": ["twdg"]},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}} if status_subresource else {},
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def widget(name: str = "w1", size: int = 1) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": {"size": size}}


@dataclass
class Api:
    """Plain HTTP to the emulator: (status code, decoded JSON) per call."""

    session: aiohttp.ClientSession
    url: str

    async def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type}
        async with self.session.request(method, self.url + path, data=data, headers=headers) as response:
            return response.status, await response.json()

    async def ok(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        status, answer = await self.call(method, path, body, content_type)
        assert 200 <= status < 300, answer
        return answer

    async def watch(self, path: str) -> list[dict[str, Any]]:
        async with self.session.get(self.url + path) as response:
            return [json.loads(line) for line in (await response.text()).splitlines() if line.strip()]


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with kube.kube_emulator() as emulator, aiohttp.ClientSession() as session:
        yield Api(session, emulator.url)


@pytest.fixture
async def widgets(api: Api) -> Api:
    await api.ok("POST", CRDS_URL, widget_crd())
    return api


# --- CRDs and discovery ---------------------------------------------------------------------------


async def test_custom_resources_are_unknown_until_their_crd_is_created(api: Api) -> None:
    status, answer = await api.call("POST", WIDGETS_URL, widget())
    assert (status, answer["reason"]) == (404, "NotFound")
    status, _ = await api.call("GET", f"/apis/{GROUP}/{VERSION}")
    assert status == 404


async def test_creating_a_crd_makes_the_kind_discoverable_with_its_status_subresource(api: Api) -> None:
    crd = await api.ok("POST", CRDS_URL, widget_crd())

    resources = (await api.ok("GET", f"/apis/{GROUP}/{VERSION}"))["resources"]
    by_name = {resource["name"]: resource for resource in resources}
    assert set(by_name) == {PLURAL, f"{PLURAL}/status"}
    assert by_name[PLURAL]["kind"] == KIND
    assert by_name[PLURAL]["namespaced"] is True
    assert by_name[PLURAL]["shortNames"] == ["twdg"]
    assert {"create", "get", "list", "watch", "patch", "delete"} <= set(by_name[PLURAL]["verbs"])
    groups = {group["name"]: group for group in (await api.ok("GET", "/apis"))["groups"]}
    assert groups[GROUP]["preferredVersion"]["version"] == VERSION
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established == {"NamesAccepted": "True", "Established": "True"}


async def test_a_crd_whose_name_does_not_match_its_names_is_rejected(api: Api) -> None:
    crd = widget_crd()
    crd["metadata"]["name"] = "wrong.cutlass.tech"
    status, answer = await api.call("POST", CRDS_URL, crd)
    assert (status, answer["reason"]) == (422, "Invalid")


async def test_deleting_a_crd_removes_the_kind_and_its_objects(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    await widgets.ok("DELETE", f"{CRDS_URL}/{PLURAL}.{GROUP}")
    status, _ = await widgets.call("GET", f"/apis/{GROUP}/{VERSION}")
    assert status == 404
    await widgets.ok("POST", CRDS_URL, widget_crd())
    assert (await widgets.ok("GET", WIDGETS_URL))["items"] == []


@pytest.mark.parametrize("path", PROJECT_CRDS, ids=lambda path: path.name)
async def test_the_project_crds_install_and_are_discoverable(api: Api, path: pathlib.Path) -> None:
    crd = yaml.safe_load(path.read_text())
    await api.ok("POST", CRDS_URL, crd)
    spec = crd["spec"]
    for version in spec["versions"]:
        names = {r["name"] for r in (await api.ok("GET", f"/apis/{spec['group']}/{version['name']}"))["resources"]}
        assert spec["names"]["plural"] in names


# --- creating -------------------------------------------------------------------------------------


async def test_create_sets_the_server_owned_metadata(widgets: Api) -> None:
    body = widget()
    body["status"] = {"ignored": True}  # the status subresource owns it
    created = await widgets.ok("POST", WIDGETS_URL, body)

    metadata = created["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", metadata["uid"])
    assert metadata["resourceVersion"].isdigit()
    assert metadata["generation"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["creationTimestamp"])
    assert metadata["namespace"] == "default"
    assert "status" not in created
    assert created == await widgets.ok("GET", f"{WIDGETS_URL}/w1")


async def test_create_answers_201_and_a_duplicate_409(widgets: Api) -> None:
    assert (await widgets.call("POST", WIDGETS_URL, widget()))[0] == 201
    status, answer = await widgets.call("POST", WIDGETS_URL, widget())
    assert (status, answer["reason"]) == (409, "AlreadyExists")


async def test_generate_name_gets_a_random_suffix(api: Api) -> None:
    body = {"metadata": {"generateName": "kopf-event-"}, "reason": "Test"}
    first = await api.ok("POST", "/api/v1/namespaces/default/events", body)
    second = await api.ok("POST", "/api/v1/namespaces/default/events", body)
    assert first["metadata"]["name"].startswith("kopf-event-")
    assert first["metadata"]["name"] != second["metadata"]["name"]


async def test_objects_can_only_be_created_in_existing_namespaces(widgets: Api) -> None:
    status, _ = await widgets.call("POST", WIDGETS_URL.replace("default", "nowhere"), widget())
    assert status == 404
    await widgets.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "somewhere"}})
    await widgets.ok("POST", WIDGETS_URL.replace("default", "somewhere"), widget())


async def test_secret_string_data_is_stored_as_base64_data(api: Api) -> None:
    secret = {"metadata": {"name": "creds"}, "stringData": {"key": "value"}}
    stored = await api.ok("POST", "/api/v1/namespaces/default/secrets", secret)
    assert stored["data"] == {"key": "dmFsdWU="}
    assert "stringData" not in stored


async def test_the_schema_prunes_unknown_fields_and_fills_defaults(widgets: Api) -> None:
    body = widget()
    body["spec"].update(unknown=1, extra={"kept": True})
    created = await widgets.ok("POST", WIDGETS_URL, body)
    assert created["spec"] == {"size": 1, "tier": "dev", "extra": {"kept": True}}


# --- updating -------------------------------------------------------------------------------------


async def test_a_spec_change_bumps_generation_and_resource_version(widgets: Api) -> None:
    created = await widgets.ok("POST", WIDGETS_URL, widget())
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", {"spec": {"size": 2}}, MERGE)
    assert patched["metadata"]["generation"] == 2
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_a_status_patch_changes_only_status_and_not_generation(widgets: Api) -> None:
    created = await widgets.ok("POST", WIDGETS_URL, widget())
    body = {"spec": {"size": 9}, "status": {"phase": "Ready"}}
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1/status", body, MERGE)
    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"] == created["spec"]
    assert patched["metadata"]["generation"] == 1
    assert patched["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]


async def test_a_main_patch_ignores_status_when_status_is_a_subresource(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    await widgets.ok("PATCH", f"{WIDGETS_URL}/w1/status", {"status": {"phase": "Ready"}}, MERGE)
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", {"status": {"phase": "Hacked"}}, MERGE)
    assert patched["status"] == {"phase": "Ready"}


async def test_without_a_status_subresource_status_is_part_of_the_object(api: Api) -> None:
    await api.ok("POST", CRDS_URL, widget_crd(status_subresource=False))
    await api.ok("POST", WIDGETS_URL, widget())
    status, _ = await api.call("PATCH", f"{WIDGETS_URL}/w1/status", {"status": {"phase": "Ready"}}, MERGE)
    assert status == 404
    patched = await api.ok("PATCH", f"{WIDGETS_URL}/w1", {"status": {"phase": "Ready"}}, MERGE)
    assert (patched["status"], patched["metadata"]["generation"]) == ({"phase": "Ready"}, 2)


async def test_a_metadata_only_change_keeps_generation(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    body = {"metadata": {"annotations": {"a": "b"}, "generation": 7, "uid": "forged"}}
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", body, MERGE)
    assert patched["metadata"]["annotations"] == {"a": "b"}
    assert patched["metadata"]["generation"] == 1
    assert patched["metadata"]["uid"] != "forged"


async def test_a_no_op_patch_keeps_the_resource_version(widgets: Api) -> None:
    created = await widgets.ok("POST", WIDGETS_URL, widget())
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", {"spec": {"size": 1}}, MERGE)
    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_merge_patch_null_deletes_a_key(widgets: Api) -> None:
    body = widget()
    body["metadata"]["labels"] = {"keep": "1", "drop": "2"}
    await widgets.ok("POST", WIDGETS_URL, body)
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", {"metadata": {"labels": {"drop": None}}}, MERGE)
    assert patched["metadata"]["labels"] == {"keep": "1"}


async def test_json_patch_applies_when_its_test_passes(widgets: Api) -> None:
    created = await widgets.ok("POST", WIDGETS_URL, widget())
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]},
    ]
    patched = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", ops, JSON_PATCH)
    assert patched["metadata"]["finalizers"] == ["example.com/hold"]


async def test_json_patch_with_a_failed_test_is_422_and_changes_nothing(widgets: Api) -> None:
    created = await widgets.ok("POST", WIDGETS_URL, widget())
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "stale"},
        {"op": "replace", "path": "/spec/size", "value": 5},
    ]
    status, answer = await widgets.call("PATCH", f"{WIDGETS_URL}/w1", ops, JSON_PATCH)
    assert (status, answer["kind"], answer["reason"]) == (422, "Status", "Invalid")
    assert await widgets.ok("GET", f"{WIDGETS_URL}/w1") == created


async def test_a_stale_resource_version_in_the_body_is_a_conflict(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    body = {"metadata": {"resourceVersion": "1"}, "spec": {"size": 3}}
    status, answer = await widgets.call("PATCH", f"{WIDGETS_URL}/w1", body, MERGE)
    assert (status, answer["reason"]) == (409, "Conflict")


async def test_put_replaces_the_object(widgets: Api) -> None:
    created = await widgets.ok("POST", WIDGETS_URL, widget())
    replaced = await widgets.ok("PUT", f"{WIDGETS_URL}/w1", dict(created, spec={"size": 4}))
    assert replaced["spec"] == {"size": 4, "tier": "dev"}
    assert replaced["metadata"]["generation"] == 2


# --- deleting -------------------------------------------------------------------------------------


async def test_deletion_waits_for_the_finalizers(widgets: Api) -> None:
    body = widget()
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await widgets.ok("POST", WIDGETS_URL, body)

    marked = await widgets.ok("DELETE", f"{WIDGETS_URL}/w1")
    assert marked["metadata"]["deletionTimestamp"]
    assert (await widgets.ok("GET", f"{WIDGETS_URL}/w1"))["metadata"]["deletionTimestamp"]
    status, _ = await widgets.call("PATCH", f"{WIDGETS_URL}/w1", {"metadata": {"finalizers": ["x/y"]}}, MERGE)
    assert status == 422  # no new finalizers once deletion started

    await widgets.ok("PATCH", f"{WIDGETS_URL}/w1", {"metadata": {"finalizers": None}}, MERGE)
    status, _ = await widgets.call("GET", f"{WIDGETS_URL}/w1")
    assert status == 404


async def test_deletion_without_finalizers_is_immediate(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    await widgets.ok("DELETE", f"{WIDGETS_URL}/w1")
    status, answer = await widgets.call("GET", f"{WIDGETS_URL}/w1")
    assert (status, answer["reason"]) == (404, "NotFound")


async def test_deleting_a_namespace_deletes_its_objects(widgets: Api) -> None:
    await widgets.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    await widgets.ok("POST", WIDGETS_URL.replace("default", "doomed"), widget())
    await widgets.ok("DELETE", "/api/v1/namespaces/doomed")
    assert (await widgets.call("GET", "/api/v1/namespaces/doomed"))[0] == 404
    assert (await widgets.call("GET", f"{WIDGETS_URL.replace('default', 'doomed')}/w1"))[0] == 404


async def test_server_side_apply_creates_then_merges(widgets: Api) -> None:
    apply = "application/apply-patch+yaml"
    created = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1?fieldManager=test", widget(), apply)
    assert created["metadata"]["generation"] == 1
    updated = await widgets.ok("PATCH", f"{WIDGETS_URL}/w1?fieldManager=test", widget(size=5), apply)
    assert (updated["spec"]["size"], updated["metadata"]["generation"]) == (5, 2)


# --- listing and watching -------------------------------------------------------------------------


async def test_a_list_has_a_resource_version_and_filters_by_labels(widgets: Api) -> None:
    for name, colour in (("a", "red"), ("b", "blue")):
        body = widget(name)
        body["metadata"]["labels"] = {"colour": colour}
        await widgets.ok("POST", WIDGETS_URL, body)
    listed = await widgets.ok("GET", f"{WIDGETS_URL}?labelSelector=colour%3Dred")
    assert listed["kind"] == f"{KIND}List"
    assert listed["metadata"]["resourceVersion"].isdigit()
    assert [item["metadata"]["name"] for item in listed["items"]] == ["a"]


async def test_a_cluster_wide_list_spans_namespaces(widgets: Api) -> None:
    await widgets.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
    await widgets.ok("POST", WIDGETS_URL, widget("a"))
    await widgets.ok("POST", WIDGETS_URL.replace("default", "other"), widget("b"))
    listed = await widgets.ok("GET", f"/apis/{GROUP}/{VERSION}/{PLURAL}")
    assert [item["metadata"]["namespace"] for item in listed["items"]] == ["default", "other"]


async def test_a_watch_resumes_after_the_list_resource_version(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget("old"))
    version = (await widgets.ok("GET", WIDGETS_URL))["metadata"]["resourceVersion"]
    await widgets.ok("POST", WIDGETS_URL, widget("new"))
    await widgets.ok("PATCH", f"{WIDGETS_URL}/new/status", {"status": {"phase": "Ready"}}, MERGE)

    events = await widgets.watch(f"{WIDGETS_URL}?watch=true&resourceVersion={version}&timeoutSeconds=0.2")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new"), ("MODIFIED", "new")]
    assert events[-1]["object"]["metadata"]["resourceVersion"] > version


async def test_a_watch_without_a_version_starts_with_the_current_objects(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    events = await widgets.watch(f"{WIDGETS_URL}?watch=true&timeoutSeconds=0.2")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w1")]


async def test_a_watch_with_initial_events_ends_them_with_a_bookmark(widgets: Api) -> None:
    await widgets.ok("POST", WIDGETS_URL, widget())
    events = await widgets.watch(f"{WIDGETS_URL}?watch=true&sendInitialEvents=true&timeoutSeconds=0.2")
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_a_watch_from_a_forgotten_version_is_410_gone() -> None:
    async with kube.kube_emulator() as emulator, aiohttp.ClientSession() as session:
        emulator.api.history_limit = 1
        api = Api(session, emulator.url)
        first = await api.ok("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "a"}})
        for name in ("b", "c"):
            await api.ok("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": name}})
        version = first["metadata"]["resourceVersion"]
        events = await api.watch(f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={version}")
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


async def test_stopping_the_emulator_ends_open_watches() -> None:
    async with aiohttp.ClientSession() as session:
        async with kube.kube_emulator() as emulator:
            response = await session.get(f"{emulator.url}/api/v1/namespaces?watch=true")
            assert json.loads(await response.content.readline())["type"] == "ADDED"
            started = time.monotonic()
        await asyncio.wait_for(response.read(), timeout=5)
        assert time.monotonic() - started < 5


def test_a_thread_that_cannot_start_raises_in_the_caller() -> None:
    with KubeEmulatorThread() as running:
        port = int(running.url.rsplit(":", 1)[1])
        with pytest.raises(OSError), KubeEmulatorThread(port=port):
            pass


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app==web,tier!=db", True),
        ("app in (web, api)", True),
        ("app notin (web)", False),
        ("tier", False),
        ("!tier", True),
    ],
)
def test_label_selectors(selector: str, expected: bool) -> None:
    assert matches_labels({"metadata": {"labels": {"app": "web"}}}, selector) is expected


# --- clients: kubernetes and kopf -----------------------------------------------------------------


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `check` returns something truthy; the operator works in its own thread."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "the condition did not come true in time"
            return result
        time.sleep(0.05)


@dataclass
class Cluster:
    """The `kubernetes` client, configured only from the emulator's kubeconfig."""

    client: kubernetes.client.ApiClient

    @property
    def objects(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.client)

    def install_crd(self, crd: dict[str, Any]) -> None:
        # The client sends plain dicts as they are; its stubs only know its model classes.
        kubernetes.client.ApiextensionsV1Api(self.client).create_custom_resource_definition(body=cast(Any, crd))

    def widget(self, name: str = "w1") -> dict[str, Any] | None:
        try:
            found = self.objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise
        return cast(dict[str, Any], found)


@pytest.fixture
def cluster(kubeconfig: pathlib.Path) -> Cluster:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return Cluster(client)


def test_kopf_reads_the_kubeconfig(kubeconfig: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    assert info is not None
    assert info.server and info.server.startswith("http://127.0.0.1:")
    assert (info.token, info.default_namespace) == (kube.EMULATOR_TOKEN, "default")


def test_the_kubernetes_client_works_through_the_kubeconfig(cluster: Cluster) -> None:
    cluster.install_crd(widget_crd())
    cluster.objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget())
    cluster.objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"size": 3}})
    assert (cluster.widget() or {})["spec"]["size"] == 3
    cluster.objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    assert cluster.widget() is None


def widget_operator(url: str, calls: list[str]) -> kopf.OperatorRegistry:
    """A trivial operator: each handler records its call and writes its result to status."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, token=kube.EMULATOR_TOKEN, default_namespace="default")

    @kopf.on.create(GROUP, VERSION, PLURAL, id="created", registry=registry)
    def created(spec: kopf.Spec, body: kopf.Body, **_: Any) -> dict[str, Any]:
        calls.append("create")
        kopf.info(body, reason="Created", message="the widget is created")
        return {"size": spec["size"]}

    @kopf.on.update(GROUP, VERSION, PLURAL, id="updated", registry=registry)
    def updated(spec: kopf.Spec, **_: Any) -> dict[str, Any]:
        calls.append("update")
        return {"size": spec["size"]}

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="deleted", registry=registry)
    def deleted(**_: Any) -> None:
        calls.append("delete")

    return registry


def operator_settings(*, scanning: bool = False) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.scanning.disabled = not scanning
    return settings


def run_operator(registry: kopf.OperatorRegistry, settings: kopf.OperatorSettings) -> KopfRunner:
    args = ["run", "--standalone", "--all-namespaces"]
    return KopfRunner(args, registry=registry, settings=settings, timeout=15)


def test_kopf_runs_each_handler_exactly_once(kube_emulator: KubeEmulatorThread, cluster: Cluster) -> None:
    calls: list[str] = []
    cluster.install_crd(widget_crd())
    with run_operator(widget_operator(kube_emulator.url, calls), operator_settings()) as runner:
        cluster.objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget())
        created = eventually(lambda: (w := cluster.widget()) and "created" in w.get("status", {}) and w)
        assert created["status"]["created"] == {"size": 1}
        assert created["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]

        cluster.objects.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"size": 2}})
        updated = eventually(lambda: (w := cluster.widget()) and "updated" in w.get("status", {}) and w)
        assert updated["status"]["updated"] == {"size": 2}
        assert updated["metadata"]["generation"] == 2

        cluster.objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
        eventually(lambda: cluster.widget() is None)
        events = kubernetes.client.CoreV1Api(cluster.client).list_namespaced_event("default").items
        time.sleep(0.5)  # room for a duplicate handler call to show up before asserting there is none

    assert runner.exception is None
    assert runner.exit_code == 0
    assert calls == ["create", "update", "delete"]
    assert [(event.reason, event.involved_object.name) for event in events] == [("Created", "w1")]


def test_kopf_with_scanning_serves_a_crd_created_after_it_started(
    kube_emulator: KubeEmulatorThread, cluster: Cluster
) -> None:
    calls: list[str] = []
    with run_operator(widget_operator(kube_emulator.url, calls), operator_settings(scanning=True)) as runner:
        time.sleep(0.5)  # let kopf scan a cluster without the CRD first
        cluster.install_crd(widget_crd())
        cluster.objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget())
        eventually(lambda: (w := cluster.widget()) and "created" in w.get("status", {}))
    assert runner.exit_code == 0
    assert calls == ["create"]
