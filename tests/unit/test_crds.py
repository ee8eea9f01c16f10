"""The generated CRDs: up to date, structural, complete, and their CEL rules do what they say.

The CEL rules run here in cel-python, with the Kubernetes CIDR library (`isCIDR`, `cidr`,
`containsCIDR`, `masked`, `prefixLength`) written over Python's `ipaddress`, and with the API
server's habits that matter to the rules: schema defaults are applied first, a null optional
field counts as absent, and transition rules run only when the old object has the field.
What only the API server can check (CEL type-checking and cost estimation) is left to the
e2e tier, which installs these same files.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from pydantic import BaseModel, ValidationError

from cutlass_operator.api import CutlassEnvironmentSpec, CutlassRegionSpec
from cutlass_operator.api.crd import GENERATED_NOTICE, build_crds, crd_file_name, render_crds

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
Schema = dict[str, Any]


# --- the Kubernetes CEL CIDR library, over ipaddress --------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Cidr:
    """A prefix as Go's netip.Prefix keeps it: the address as written (host bits and all), the length."""

    address: Address
    bits: int

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network((self.address, self.bits), strict=False)


def parse_cidr(text: str) -> Cidr | None:
    """netip.ParsePrefix's rules as Kubernetes uses them: no zones, no IPv4-mapped IPv6."""
    address_text, slash, bits_text = text.partition("/")
    if not slash or not bits_text.isdigit() or (len(bits_text) > 1 and bits_text[0] == "0") or "%" in text:
        return None
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None
    bits = int(bits_text)
    return Cidr(address, bits) if bits <= address.max_prefixlen else None


def _cel_cidr(value: celtypes.StringType) -> Cidr:
    parsed = parse_cidr(str(value))
    if parsed is None:
        raise ValueError(f"network address parse error: {value!r}")
    return parsed


def _cel_is_cidr(value: celtypes.StringType) -> celtypes.BoolType:
    return celtypes.BoolType(parse_cidr(str(value)) is not None)


def _cel_contains_cidr(outer: Cidr, inner: Cidr | celtypes.StringType) -> celtypes.BoolType:
    # The semantics since Kubernetes 1.33 (kubernetes#130450, backported to 1.31/1.32 patches):
    # the inner prefix masked to the outer's length equals the outer network.
    other = inner if isinstance(inner, Cidr) else _cel_cidr(inner)
    same_network = Cidr(other.address, outer.bits).network() == outer.network()
    return celtypes.BoolType(same_network and outer.bits <= other.bits)


def _cel_masked(value: Cidr) -> Cidr:
    return Cidr(value.network().network_address, value.bits)


def _cel_prefix_length(value: Cidr) -> celtypes.IntType:
    return celtypes.IntType(value.bits)


K8S_CIDR_LIBRARY: dict[str, Callable[..., Any]] = {
    "cidr": _cel_cidr,
    "isCIDR": _cel_is_cidr,
    "containsCIDR": _cel_contains_cidr,
    "masked": _cel_masked,
    "prefixLength": _cel_prefix_length,
    # From the Kubernetes strings extension library, which the API server's CEL also has.
    "lowerAscii": lambda value: celtypes.StringType(str(value).lower()),
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("isCIDR('10.0.0.0/16')", True),
        ("isCIDR('10.0.0.1/16')", True),  # host bits parse; `cidr(x) == cidr(x).masked()` rejects them
        ("isCIDR('10.0.0.0/33')", False),
        ("isCIDR('010.0.0.0/16')", False),
        ("isCIDR('::ffff:10.0.0.0/112')", False),
        ("isCIDR('10.0.0.0')", False),
        ("cidr('10.0.0.0/16').containsCIDR('10.0.1.0/24')", True),
        ("cidr('10.0.0.0/16').containsCIDR(cidr('10.0.0.0/16'))", True),
        ("cidr('10.0.1.0/24').containsCIDR('10.0.0.0/16')", False),
        ("cidr('10.0.0.0/16').containsCIDR('10.1.0.0/24')", False),
        ("cidr('10.0.0.1/24') == cidr('10.0.0.1/24').masked()", False),
        ("cidr('10.0.0.0/24') == cidr('10.0.0.0/24').masked()", True),
        ("cidr('10.0.0.0/20').prefixLength() == 20", True),
    ],
)
def test_the_cidr_library_behaves_like_the_kubernetes_one(expression: str, expected: bool) -> None:
    assert _evaluate(expression, {}) == expected


# --- evaluating a CRD the way the API server does ----------------------------------------------

_ABSENT = object()


@dataclass(frozen=True)
class Violation:
    path: str
    message: str


@functools.cache
def _program(expression: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression), functions=K8S_CIDR_LIBRARY)


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    return _program(expression).evaluate({name: _to_cel(value) for name, value in activation.items()})


def _to_cel(value: Any) -> Any:
    return json_to_cel(_without_nulls(value))


def _without_nulls(value: Any) -> Any:
    # The API server treats a nullable field set to null as absent, so `has()` is false for it.
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def violations(schema: Schema, value: Any, old: Any = _ABSENT, path: str = "") -> list[Violation]:
    """Every failed `x-kubernetes-validations` rule under `schema`, with the path it reports."""
    found: list[Violation] = []
    for rule in schema.get("x-kubernetes-validations", []):
        is_transition = "oldSelf" in rule["rule"]
        if is_transition and old is _ABSENT:
            continue
        activation = {"self": value, "oldSelf": old} if is_transition else {"self": value}
        try:
            result = _evaluate(rule["rule"], activation)
        except CELEvalError as exc:
            result = exc
        if not isinstance(result, celtypes.BoolType):
            # The API server reports a rule that errors as invalid too, but not with its message.
            found.append(Violation(path, f"error evaluating {rule['rule']!r}: {result!r}"))
        elif not result:
            found.append(Violation(path + rule.get("fieldPath", ""), rule["message"]))
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if value.get(name) is not None:
                old_sub = old.get(name, _ABSENT) if isinstance(old, dict) else _ABSENT
                found += violations(sub, value[name], old_sub, f"{path}.{name}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += violations(schema["items"], item, _ABSENT, f"{path}[{index}]")
    return found


def with_defaults(schema: Schema, value: Any) -> Any:
    """The object after the API server's defaulting: absent properties with a default get it."""
    if isinstance(value, dict) and "properties" in schema:
        value = dict(value)
        for name, sub in schema["properties"].items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = with_defaults(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        value = [with_defaults(schema["items"], item) for item in value]
    return value


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def schema_errors(schema: Schema, value: Any, path: str = "") -> list[str]:
    """OpenAPI validation of the keywords the CRDs use. Unknown fields are errors here, since the
    API server would silently prune them and a test fixture with a typo would prove nothing;
    `metadata` (an object without properties) is the API server's own business."""
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null is not allowed"]
    if "type" in schema and not _TYPES[schema["type"]](value):
        return [f"{path}: {value!r} is not of type {schema['type']}"]
    errors = [f"{path}: {message}" for message in _scalar_errors(schema, value)]
    if isinstance(value, dict):
        errors += _object_errors(schema, value, path)
    if isinstance(value, list):
        errors += _list_errors(schema, value, path)
    return errors


def _scalar_errors(schema: Schema, value: Any) -> Iterator[str]:
    if "enum" in schema and value not in schema["enum"]:
        yield f"{value!r} is not one of {schema['enum']}"
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{value!r} does not match {schema['pattern']}"
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
            yield f"{value!r} has a length outside the bounds"
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        yield f"{value!r} is outside the bounds"


def _object_errors(schema: Schema, value: dict[str, Any], path: str) -> list[str]:
    errors = [f"{path}.{name}: required" for name in schema.get("required", []) if name not in value]
    properties = schema.get("properties")
    for name, item in value.items():
        if properties is not None and name in properties:
            errors += schema_errors(properties[name], item, f"{path}.{name}")
        elif "additionalProperties" in schema:
            errors += schema_errors(schema["additionalProperties"], item, f"{path}.{name}")
        elif properties is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
            errors.append(f"{path}.{name}: unknown field")
    return errors


def _list_errors(schema: Schema, value: list[Any], path: str) -> list[str]:
    errors = []
    if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
        errors.append(f"{path}: {len(value)} items is outside the bounds")
    if schema.get("x-kubernetes-list-type") == "set" and len(set(value)) != len(value):
        errors.append(f"{path}: duplicate entries in a set")
    for index, item in enumerate(value):
        errors += schema_errors(schema["items"], item, f"{path}[{index}]")
    return errors


# --- fixtures -----------------------------------------------------------------------------------

CRDS = {crd["spec"]["names"]["kind"]: crd for crd in build_crds()}


def root_schema(kind: str) -> Schema:
    schema: Schema = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def node_at(kind: str, *path: str) -> Schema:
    node = root_schema(kind)
    for name in path:
        node = node["items"] if name == "[]" else node["properties"][name]
    return node


def manifest(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cutlass.tech/v1alpha1", "kind": kind, "metadata": {"name": "dev"}, "spec": spec}


SEED_ENVIRONMENT: dict[str, Any] = {
    "accountId": "111111111111",
    "tier": "dev",
    "notifications": {"senderEmail": "alerts@example.com"},
}
SEED_REGION: dict[str, Any] = {
    "environmentRef": {"name": "dev"},
    "region": "london",
    "awsRegion": "eu-west-2",
    "network": {
        "vpcCidr": "10.0.0.0/16",
        "publicSubnetCidrs": ["10.0.1.0/24", "10.0.2.0/24"],
        "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24"],
    },
}
MODELS: dict[str, type[BaseModel]] = {
    "CutlassEnvironment": CutlassEnvironmentSpec,
    "CutlassRegion": CutlassRegionSpec,
}


def admit(kind: str, spec: dict[str, Any], old_spec: dict[str, Any] | None = None) -> list[Violation]:
    """What the API server would say to a create (or an update from old_spec): CEL violations.

    Schema errors fail the test outright: the CEL cases must be valid in every other way.
    """
    schema = root_schema(kind)
    new = with_defaults(schema, manifest(kind, spec))
    assert schema_errors(schema, new) == []
    old = _ABSENT if old_spec is None else with_defaults(schema, manifest(kind, old_spec))
    return violations(schema, new, old)


def assert_violations(found: list[Violation], expected: list[tuple[str, str]]) -> None:
    """The same paths in order, each message starting with the expected text; prints want/got."""
    got = [(v.path, v.message) for v in found]
    matches = len(got) == len(expected) and all(
        path == want_path and message.startswith(want_message)
        for (path, message), (want_path, want_message) in zip(got, expected, strict=True)
    )
    assert matches, f"want (path, message prefix): {expected}\n got: {got}"


def region_with(**network: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SEED_REGION)
    spec["network"].update(network)
    return spec


def environment_with(**fields: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SEED_ENVIRONMENT), **fields}


# --- the checked-in files -----------------------------------------------------------------------


def test_the_checked_in_crds_are_the_generated_ones() -> None:
    rendered = render_crds()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in sorted(CRD_DIR.glob("*.yaml"))}
    assert sorted(on_disk) == sorted(rendered), "crds/ holds other files than the generator writes: run `cutlass crds`"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"crds/{name} is stale: run `cutlass crds`"


def test_each_file_says_it_is_generated_and_loads_back_to_the_crd() -> None:
    rendered = render_crds()
    for crd in build_crds():
        text = rendered[crd_file_name(crd)]
        assert text.startswith(GENERATED_NOTICE)
        assert "cutlass crds" in text.splitlines()[0]
        assert yaml.safe_load(text) == crd


def test_rendering_is_stable() -> None:
    assert render_crds() == render_crds()


# --- structural schema --------------------------------------------------------------------------


def schema_nodes(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from schema_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


ALL_NODES = [(kind, path, node) for kind in CRDS for path, node in schema_nodes(root_schema(kind))]


# JSON schema that a structural CRD schema forbids, or that OpenAPI v3.0 spells differently.
FORBIDDEN_KEYWORDS = {
    "$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const", "uniqueItems",
    "exclusiveMinimum", "exclusiveMaximum",
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_no_json_schema_keyword_the_api_server_rejects(kind: str) -> None:
    for node_kind, path, node in ALL_NODES:
        if node_kind == kind:
            assert not FORBIDDEN_KEYWORDS & set(node), f"{kind}{path}: {FORBIDDEN_KEYWORDS & set(node)}"
    assert "$ref" not in yaml.safe_dump(CRDS[kind])


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_node_has_a_type_and_objects_are_typed_object(kind: str) -> None:
    for node_kind, path, node in ALL_NODES:
        if node_kind != kind:
            continue
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{kind}{path}: no type"
        if "properties" in node or "additionalProperties" in node:
            assert node["type"] == "object", f"{kind}{path}"
        assert not ("properties" in node and "additionalProperties" in node), f"{kind}{path}"
        assert node.get("additionalProperties") is not False, f"{kind}{path}"


def test_optional_fields_are_nullable_without_a_null_default() -> None:
    role_arn = node_at("CutlassEnvironment", "spec", "credentials", "roleArn")
    assert role_arn["nullable"] is True
    assert role_arn["type"] == "string"
    assert role_arn["pattern"].startswith("^arn:aws")
    domain = node_at("CutlassEnvironment", "spec", "domain")
    assert (domain["type"], domain["nullable"]) == ("object", True)
    assert domain["required"] == ["zoneName"]
    for kind, path, node in ALL_NODES:
        assert node.get("default", "") is not None, f"{kind}{path}: null default"


def test_nested_models_are_inlined_with_the_fields_description() -> None:
    settings = node_at("CutlassRegion", "spec", "settings")
    assert settings["description"] == "Overrides of the environment's settings for this region."
    assert set(settings["properties"]) == {
        "lambdaMemorySize",
        "logRetentionDays",
        "detailedMonitoring",
        "enhancedSecurity",
        "provisionedConcurrency",
    }
    nat = node_at("CutlassRegion", "spec", "network", "natGateways")
    assert nat == {
        "type": "string",
        "enum": ["Single", "PerAZ", "None"],
        "default": "Single",
        "description": nat["description"],
    }


def test_maps_and_free_form_fields() -> None:
    for kind in CRDS:
        tags = node_at(kind, "spec", "tags")
        assert tags["type"] == "object"
        assert tags["additionalProperties"] == {"type": "string", "maxLength": 256}
        outputs = node_at(kind, "status", "outputs")
        assert outputs["type"] == "object"
        assert outputs["x-kubernetes-preserve-unknown-fields"] is True
        assert "additionalProperties" not in outputs


def test_literal_integers_become_an_integer_enum() -> None:
    retention = node_at("CutlassEnvironment", "spec", "settings", "logRetentionDays")
    assert retention["type"] == "integer"
    assert retention["enum"] == [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365]
    assert retention["nullable"] is True
    memory = node_at("CutlassEnvironment", "spec", "settings", "lambdaMemorySize")
    assert (memory["minimum"], memory["maximum"]) == (128, 10240)


def test_conditions_are_a_map_keyed_by_type() -> None:
    conditions = node_at("CutlassRegion", "status", "conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_top_level_fields(kind: str) -> None:
    root = root_schema(kind)
    assert root["type"] == "object"
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["required"] == ["spec"]
    assert "x-kubernetes-preserve-unknown-fields" not in root


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_default_is_valid_against_its_own_schema(kind: str) -> None:
    defaults = [(path, node) for node_kind, path, node in ALL_NODES if node_kind == kind and "default" in node]
    assert defaults, "expected some defaults"
    for path, node in defaults:
        assert schema_errors(node, node["default"], path) == []


@pytest.mark.parametrize(("kind", "spec"), [("CutlassEnvironment", SEED_ENVIRONMENT), ("CutlassRegion", SEED_REGION)])
def test_the_seed_specs_are_valid_for_the_crd_and_the_model(kind: str, spec: dict[str, Any]) -> None:
    assert admit(kind, spec) == []
    defaulted = with_defaults(root_schema(kind), manifest(kind, spec))["spec"]
    # What the API server stores after defaulting is still what the model accepts, unchanged.
    model = MODELS[kind].model_validate(defaulted)
    assert model.model_dump(by_alias=True, exclude_defaults=True) == MODELS[kind].model_validate(spec).model_dump(
        by_alias=True, exclude_defaults=True
    )


# --- names, columns, versions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "plural", "short_name"),
    [("CutlassEnvironment", "cutlassenvironments", "cenv"), ("CutlassRegion", "cutlassregions", "creg")],
)
def test_names_scope_and_version(kind: str, plural: str, short_name: str) -> None:
    crd = CRDS[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.cutlass.tech"
    assert crd["spec"]["group"] == "cutlass.tech"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": [short_name],
        "categories": ["cutlass"],
    }
    [version] = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert crd_file_name(crd) == f"cutlass.tech_{plural}.yaml"


READY = '.status.conditions[?(@.type=="Ready")].status'
AWAITING = '.status.conditions[?(@.type=="AwaitingApproval")].status'


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "CutlassEnvironment",
            [
                ("TIER", ".spec.tier", "string"),
                ("ACCOUNT", ".spec.accountId", "string"),
                ("REGIONS", ".status.regions.summary", "string"),
                ("PHASE", ".status.phase", "string"),
                ("READY", READY, "string"),
                ("AGE", ".metadata.creationTimestamp", "date"),
                ("PLAN", ".status.plan.id", "string"),
                ("AWAITING-APPROVAL", AWAITING, "string"),
            ],
        ),
        (
            "CutlassRegion",
            [
                ("ENVIRONMENT", ".spec.environmentRef.name", "string"),
                ("AWS-REGION", ".spec.awsRegion", "string"),
                ("PHASE", ".status.phase", "string"),
                ("READY", READY, "string"),
                ("AGE", ".metadata.creationTimestamp", "date"),
                ("PLAN", ".status.plan.id", "string"),
                ("AWAITING-APPROVAL", AWAITING, "string"),
            ],
        ),
    ],
)
def test_printer_columns(kind: str, expected: list[tuple[str, str, str]]) -> None:
    columns = CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"], c["type"]) for c in columns] == expected
    assert all(c["description"] for c in columns)
    # What approval needs is in `kubectl get -o wide`; the default listing stays as it was.
    assert [c["name"] for c in columns if c.get("priority")] == ["PLAN", "AWAITING-APPROVAL"]


def test_printer_columns_point_at_fields_that_exist() -> None:
    for kind, crd in CRDS.items():
        for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
            path = column["jsonPath"].split("[")[0].strip(".").split(".")
            if path[0] == "metadata":
                continue
            node_at(kind, *path)


# --- CEL rules: cost bounds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "keyword", "bound"),
    [
        (("spec", "network", "vpcCidr"), "maxLength", 18),
        (("spec", "network", "publicSubnetCidrs"), "maxItems", 6),
        (("spec", "network", "publicSubnetCidrs", "[]"), "maxLength", 18),
        (("spec", "network", "privateSubnetCidrs"), "maxItems", 6),
        (("spec", "network", "privateSubnetCidrs", "[]"), "maxLength", 18),
        (("spec", "network", "availabilityZones"), "maxItems", 6),
        (("spec", "network", "availabilityZones", "[]"), "maxLength", 32),
    ],
)
def test_what_the_network_rules_iterate_is_bounded(path: tuple[str, ...], keyword: str, bound: int) -> None:
    # The API server rejects a CRD whose rules' estimated cost is over budget; the estimate
    # comes from these bounds (without them, from the 3 MB request limit).
    assert node_at("CutlassRegion", *path)[keyword] == bound


def test_every_rule_has_a_message_naming_a_spec_field() -> None:
    rules = [rule for kind, _, node in ALL_NODES for rule in node.get("x-kubernetes-validations", [])]
    assert len(rules) == 38
    for rule in rules:
        assert re.match(r"^spec\.[a-zA-Z.]+", rule["message"]), rule
        assert rule.get("reason", "FieldValueInvalid") in {
            "FieldValueInvalid",
            "FieldValueForbidden",
            "FieldValueRequired",
            "FieldValueDuplicate",
        }


# --- CEL rules: network -------------------------------------------------------------------------

INSIDE_VPC = "every subnet must lie inside spec.network.vpcCidr"
OVERLAP_WITHIN = "subnets overlap each other"
OVERLAP_ACROSS = "a private subnet overlaps a public subnet"
ZONES = "spec.network.availabilityZones lists fewer zones than there are subnets in a tier"
CIDR_FORM = "must be an IPv4 network in CIDR form with no host bits set"
VPC_PREFIX = "spec.network.vpcCidr: the prefix must be between /16 and /28"

BAD_NETWORKS = [
    pytest.param(
        {"publicSubnetCidrs": ["10.0.1.0/24", "10.1.2.0/24"]},
        [(".spec.network.publicSubnetCidrs", f"spec.network.publicSubnetCidrs: {INSIDE_VPC}")],
        id="public-subnet-outside-vpc",
    ),
    pytest.param(
        {"privateSubnetCidrs": ["10.0.3.0/24", "192.168.4.0/24"]},
        [(".spec.network.privateSubnetCidrs", f"spec.network.privateSubnetCidrs: {INSIDE_VPC}")],
        id="private-subnet-outside-vpc",
    ),
    pytest.param(
        {"vpcCidr": "10.0.0.0/24", "publicSubnetCidrs": ["10.0.0.0/25"], "privateSubnetCidrs": ["10.0.0.0/23"]},
        [
            (".spec.network.privateSubnetCidrs", f"spec.network.privateSubnetCidrs: {INSIDE_VPC}"),
            (".spec.network.privateSubnetCidrs", f"spec.network.privateSubnetCidrs: {OVERLAP_ACROSS}"),
        ],
        id="private-subnet-larger-than-vpc",
    ),
    pytest.param(
        {"privateSubnetCidrs": ["10.0.1.128/25", "10.0.4.0/24"]},
        [(".spec.network.privateSubnetCidrs", f"spec.network.privateSubnetCidrs: {OVERLAP_ACROSS}")],
        id="public-overlaps-private",
    ),
    pytest.param(
        {"privateSubnetCidrs": ["10.0.2.0/24", "10.0.4.0/24"]},
        [(".spec.network.privateSubnetCidrs", f"spec.network.privateSubnetCidrs: {OVERLAP_ACROSS}")],
        id="same-cidr-public-and-private",
    ),
    pytest.param(
        {"publicSubnetCidrs": ["10.0.0.0/23", "10.0.1.0/24"]},
        [(".spec.network.publicSubnetCidrs", f"spec.network.publicSubnetCidrs: {OVERLAP_WITHIN}")],
        id="public-subnets-overlap",
    ),
    pytest.param(
        {"privateSubnetCidrs": ["10.0.4.0/24", "10.0.4.0/22"]},
        [(".spec.network.privateSubnetCidrs", f"spec.network.privateSubnetCidrs: {OVERLAP_WITHIN}")],
        id="private-subnets-overlap",
    ),
    pytest.param(
        {"availabilityZones": ["eu-west-2a"]},
        [(".spec.network.availabilityZones", ZONES)],
        id="too-few-zones",
    ),
    pytest.param(
        {
            "availabilityZones": ["eu-west-2a", "eu-west-2b"],
            "privateSubnetCidrs": ["10.0.3.0/24", "10.0.4.0/24", "10.0.5.0/24"],
        },
        [(".spec.network.availabilityZones", ZONES)],
        id="too-few-zones-for-the-longer-tier",
    ),
    pytest.param(
        {"vpcCidr": "10.0.0.1/16"},
        [(".spec.network.vpcCidr", f"spec.network.vpcCidr {CIDR_FORM}, e.g. 10.0.0.0/16")],
        id="vpc-host-bits-set",
    ),
    pytest.param(
        {"vpcCidr": "10.0.0.0/8"},
        [(".spec.network.vpcCidr", VPC_PREFIX)],
        id="vpc-too-large",
    ),
    pytest.param(
        {"vpcCidr": "10.0.0.0/29", "publicSubnetCidrs": ["10.0.0.0/30"], "privateSubnetCidrs": ["10.0.0.4/30"]},
        [
            (".spec.network.vpcCidr", VPC_PREFIX),
            (".spec.network.publicSubnetCidrs[0]", "spec.network.publicSubnetCidrs: a subnet's prefix"),
            (".spec.network.privateSubnetCidrs[0]", "spec.network.privateSubnetCidrs: a subnet's prefix"),
        ],
        id="vpc-too-small",
    ),
    pytest.param(
        {"publicSubnetCidrs": ["10.0.1.0/24", "10.0.300.0/24"]},
        [(".spec.network.publicSubnetCidrs[1]", f"spec.network.publicSubnetCidrs {CIDR_FORM}, e.g. 10.0.1.0/24")],
        id="subnet-octet-out-of-range",
    ),
    pytest.param(
        {"privateSubnetCidrs": ["10.0.3.1/24", "10.0.4.0/24"]},
        [(".spec.network.privateSubnetCidrs[0]", f"spec.network.privateSubnetCidrs {CIDR_FORM}, e.g. 10.0.3.0/24")],
        id="subnet-host-bits-set",
    ),
    pytest.param(
        {"privateSubnetCidrs": ["10.0.3.0/29", "10.0.4.0/24"]},
        [(".spec.network.privateSubnetCidrs[0]", "spec.network.privateSubnetCidrs: a subnet's prefix must be between")],
        id="subnet-smaller-than-aws-takes",
    ),
    pytest.param(
        {"availabilityZones": ["eu-west-1a", "eu-west-2b"]},
        [(".spec.network.availabilityZones", "spec.network.availabilityZones: every zone must be one of")],
        id="zone-of-another-region",
    ),
]


@pytest.mark.parametrize(("network", "expected"), BAD_NETWORKS)
def test_a_bad_network_is_rejected_with_the_field_to_fix(
    network: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert_violations(admit("CutlassRegion", region_with(**network)), expected)


@pytest.mark.parametrize(("network", "expected"), BAD_NETWORKS)
def test_the_model_rejects_every_network_the_crd_rejects(network: dict[str, Any], expected: Any) -> None:
    with pytest.raises(ValidationError):
        CutlassRegionSpec.model_validate(region_with(**network))


GOOD_NETWORKS = [
    pytest.param({}, id="seed"),
    pytest.param({"availabilityZones": ["eu-west-2a", "eu-west-2b"]}, id="one-zone-per-subnet"),
    pytest.param({"availabilityZones": ["eu-west-2a", "eu-west-2b", "eu-west-2c"]}, id="spare-zone"),
    pytest.param({"availabilityZones": []}, id="empty-zones-mean-default"),
    pytest.param(
        {"vpcCidr": "10.0.0.0/27", "publicSubnetCidrs": ["10.0.0.0/28"], "privateSubnetCidrs": ["10.0.0.16/28"]},
        id="smallest-subnets-adjacent",
    ),
    pytest.param(
        {"vpcCidr": "172.16.0.0/16", "publicSubnetCidrs": ["172.16.0.0/17"], "privateSubnetCidrs": ["172.16.128.0/17"]},
        id="halves-of-the-vpc",
    ),
    pytest.param(
        {
            "publicSubnetCidrs": [f"10.0.{i}.0/24" for i in range(6)],
            "privateSubnetCidrs": [f"10.0.{i}.0/24" for i in range(10, 16)],
        },
        id="six-zones",
    ),
]


@pytest.mark.parametrize("network", GOOD_NETWORKS)
def test_a_good_network_passes_the_crd_and_the_model(network: dict[str, Any]) -> None:
    spec = region_with(**network)
    assert admit("CutlassRegion", spec) == []
    CutlassRegionSpec.model_validate(spec)


# --- CEL rules: credentials ---------------------------------------------------------------------

SECRET_REF = "spec.credentials.secretRef is required when credentials.source is Secret"
ROLE_ARN = "spec.credentials.roleArn is required when credentials.source is AssumeRole"


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        pytest.param({"source": "Secret"}, [(".spec.credentials.secretRef", SECRET_REF)], id="secret-without-ref"),
        pytest.param(
            {"source": "Secret", "secretRef": None}, [(".spec.credentials.secretRef", SECRET_REF)], id="secret-null-ref"
        ),
        pytest.param(
            {"source": "Secret", "roleArn": "arn:aws:iam::111111111111:role/x"},
            [(".spec.credentials.secretRef", SECRET_REF)],
            id="secret-with-only-a-role",
        ),
        pytest.param({"source": "AssumeRole"}, [(".spec.credentials.roleArn", ROLE_ARN)], id="assume-role-without-arn"),
        pytest.param(
            {"source": "AssumeRole", "secretRef": {"name": "aws"}},
            [(".spec.credentials.roleArn", ROLE_ARN)],
            id="assume-role-with-only-a-secret",
        ),
    ],
)
def test_credentials_without_the_field_their_source_needs_are_rejected(
    credentials: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert_violations(admit("CutlassEnvironment", environment_with(credentials=credentials)), expected)
    with pytest.raises(ValidationError):
        CutlassEnvironmentSpec.model_validate(environment_with(credentials=credentials))


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="empty-means-default"),
        pytest.param({"source": "Default"}, id="default"),
        pytest.param({"source": "Secret", "secretRef": {"name": "aws-dev"}}, id="secret"),
        pytest.param(
            {"source": "Secret", "secretRef": {"name": "aws"}, "roleArn": "arn:aws:iam::111111111111:role/x"},
            id="secret-then-role",
        ),
        pytest.param({"source": "AssumeRole", "roleArn": "arn:aws:iam::111111111111:role/x"}, id="assume-role"),
    ],
)
def test_credentials_with_what_their_source_needs_are_accepted(credentials: dict[str, Any]) -> None:
    spec = environment_with(credentials=credentials)
    assert admit("CutlassEnvironment", spec) == []
    CutlassEnvironmentSpec.model_validate(spec)


SENDER = "spec.notifications.senderEmail is required when spec.domain is not set"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"accountId": "111111111111", "tier": "dev"}, id="neither"),
        pytest.param(
            {"accountId": "111111111111", "tier": "dev", "notifications": {"maxReceiveCount": 3}}, id="no-sender"
        ),
    ],
)
def test_an_environment_without_a_sender_or_a_domain_is_rejected(spec: dict[str, Any]) -> None:
    assert_violations(admit("CutlassEnvironment", spec), [(".spec.notifications.senderEmail", SENDER)])
    with pytest.raises(ValidationError, match="senderEmail is required"):
        CutlassEnvironmentSpec.model_validate(spec)


def test_a_domain_gives_the_default_sender() -> None:
    spec = {"accountId": "111111111111", "tier": "dev", "domain": {"zoneName": "example.com"}}
    assert admit("CutlassEnvironment", spec) == []
    assert CutlassEnvironmentSpec.model_validate(spec).effective_sender_email() == "alerts@example.com"


def test_the_credentials_source_defaults_to_the_operators_own_chain() -> None:
    defaulted = with_defaults(
        root_schema("CutlassEnvironment"), manifest("CutlassEnvironment", environment_with(credentials={}))
    )
    assert defaulted["spec"]["credentials"] == {"source": "Default", "sessionName": "cutlass-operator"}


# --- CEL rules: DNS ------------------------------------------------------------------------------

ZONE = "dev.example.com"


def domain_with(**fields: Any) -> dict[str, Any]:
    return environment_with(domain={"zoneName": ZONE, **fields})


def geolocation(*routes: dict[str, Any]) -> dict[str, Any]:
    return domain_with(routing={"policy": "geolocation", "geolocation": list(routes)})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            domain_with(apiRecordName="api.example.org"),
            [(".spec.domain.apiRecordName", "spec.domain.apiRecordName must be inside spec.domain.zoneName")],
            id="record-outside-zone",
        ),
        pytest.param(
            domain_with(apiRecordName="api.notdev.example.com"),
            [(".spec.domain.apiRecordName", "spec.domain.apiRecordName must be inside spec.domain.zoneName")],
            id="record-in-a-zone-sharing-the-suffix",
        ),
        pytest.param(
            geolocation({"region": "london", "continents": ["EU"]}, {"region": "london", "countries": ["GB"]}),
            [(".spec.domain.routing.geolocation", "spec.domain.routing.geolocation lists a region more than once")],
            id="region-twice",
        ),
        pytest.param(
            geolocation({"region": "london", "continents": ["EU"]}, {"region": "frankfurt", "continents": ["EU"]}),
            [(".spec.domain.routing.geolocation", "spec.domain.routing.geolocation maps a continent to more")],
            id="continent-twice",
        ),
        pytest.param(
            geolocation({"region": "london", "countries": ["GB"]}, {"region": "dublin", "countries": ["GB", "IE"]}),
            [(".spec.domain.routing.geolocation", "spec.domain.routing.geolocation maps a country to more")],
            id="country-twice",
        ),
        pytest.param(
            geolocation({"region": "london"}),
            [(".spec.domain.routing.geolocation[0]", "spec.domain.routing.geolocation: each region needs")],
            id="serves-nobody",
        ),
    ],
)
def test_routing_the_api_name_nowhere_or_twice_is_rejected(
    spec: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert_violations(admit("CutlassEnvironment", spec), expected)
    with pytest.raises(ValidationError):
        CutlassEnvironmentSpec.model_validate(spec)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(domain_with(apiRecordName=f"api.{ZONE}"), id="record-in-zone"),
        pytest.param(
            geolocation({"region": "london", "continents": ["EU"]}, {"region": "sydney", "continents": ["OC", "AS"]}),
            id="the-manifests-mapping",
        ),
        pytest.param(
            geolocation({"region": "saopaulo", "continents": ["SA"]}, {"region": "bahrain", "countries": ["SA"]}),
            id="continent-and-country-sharing-a-code",
        ),
        pytest.param(
            domain_with(routing={"policy": "failover", "healthCheck": {"requestInterval": 10}}), id="failover"
        ),
    ],
)
def test_routing_each_place_to_one_region_is_accepted(spec: dict[str, Any]) -> None:
    assert admit("CutlassEnvironment", spec) == []
    CutlassEnvironmentSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(
            domain_with(zoneName="other.example.com"),
            (".spec.domain.zoneName", "spec.domain.zoneName is immutable"),
            id="zone-renamed",
        ),
        pytest.param(
            environment_with(notifications={"senderEmail": "alerts@example.com"}),
            (".spec.domain", "spec.domain cannot be removed once set"),
            id="domain-removed",
        ),
    ],
)
def test_the_zone_stays_once_set(new: dict[str, Any], expected: tuple[str, str]) -> None:
    assert admit("CutlassEnvironment", new) == [], "the new spec must be valid on its own"
    assert_violations(admit("CutlassEnvironment", new, old_spec=domain_with()), [expected])


def test_a_domain_may_be_added_and_its_routing_changed() -> None:
    assert admit("CutlassEnvironment", domain_with(), old_spec=SEED_ENVIRONMENT) == []
    changed = domain_with(apiRecordName=f"www.{ZONE}", routing={"policy": "failover"})
    assert admit("CutlassEnvironment", changed, old_spec=domain_with()) == []


# --- CEL rules: tags and callback URLs, as AWS takes them ---------------------------------------

OWN_TAGS = "Name, Environment, Region, Workspace, Account and cutlass.tech/* are the tags the operator sets"
BAD_TAGS = [
    pytest.param({"aws:team": "core"}, "the aws: prefix is reserved", id="aws-prefix"),
    pytest.param({"AWS:cost": "x"}, "the aws: prefix is reserved", id="aws-prefix-any-case"),
    pytest.param({"Name": "mine"}, OWN_TAGS, id="operators-name-tag"),
    pytest.param({"cutlass.tech/owner": "me"}, OWN_TAGS, id="operators-prefix"),
    pytest.param({"k" * 129: "v"}, "AWS takes tag keys of 1-128", id="key-too-long"),
    pytest.param({"": "v"}, "AWS takes tag keys of 1-128", id="empty-key"),
    pytest.param({"team": "a,b"}, "AWS takes tag values", id="comma-in-value"),
    pytest.param({"team#1": "core"}, "AWS takes tag keys", id="hash-in-key"),
]


@pytest.mark.parametrize(("tags", "expected"), BAD_TAGS)
@pytest.mark.parametrize("kind", ["CutlassEnvironment", "CutlassRegion"])
def test_tags_aws_refuses_are_refused_by_the_crd_and_the_model(kind: str, tags: dict[str, str], expected: str) -> None:
    spec = {**(SEED_ENVIRONMENT if kind == "CutlassEnvironment" else SEED_REGION), "tags": tags}
    assert_violations(admit(kind, spec), [(".spec.tags", f"spec.tags: {expected}")])
    model = CutlassEnvironmentSpec if kind == "CutlassEnvironment" else CutlassRegionSpec
    with pytest.raises(ValidationError, match="tag"):
        model.model_validate(spec)


def test_tags_aws_takes_pass_both() -> None:
    tags = {"team": "core", "cost-centre": "R&D 42".replace("&", "+"), "Équipe": "données", "k" * 128: "v" * 256}
    for kind, seed in (("CutlassEnvironment", SEED_ENVIRONMENT), ("CutlassRegion", SEED_REGION)):
        assert admit(kind, {**seed, "tags": tags}) == []
    CutlassEnvironmentSpec.model_validate({**SEED_ENVIRONMENT, "tags": tags})


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://app.example.com/callback", id="http-not-localhost"),
        pytest.param("https://app.example.com/callback#done", id="fragment"),
        pytest.param("app.example.com/callback", id="not-absolute"),
        pytest.param("http://localhost.example.com/cb", id="localhost-lookalike"),
    ],
)
def test_callback_urls_cognito_refuses_are_refused_by_the_crd_and_the_model(url: str) -> None:
    spec = environment_with(api={"callbackUrls": ["https://ok.example.com/cb", url]})
    assert_violations(admit("CutlassEnvironment", spec), [(".spec.api.callbackUrls[1]", "spec.api.callbackUrls:")])
    with pytest.raises(ValidationError, match="Cognito"):
        CutlassEnvironmentSpec.model_validate(spec)


def test_callback_urls_cognito_takes_pass_both() -> None:
    urls = ["https://app.example.com/cb?x=1", "http://localhost:8080/callback", "http://localhost", "myapp://signed-in"]
    spec = environment_with(api={"callbackUrls": urls})
    assert admit("CutlassEnvironment", spec) == []
    CutlassEnvironmentSpec.model_validate(spec)


# --- CEL rules: immutable fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "old", "new", "expected"),
    [
        pytest.param(
            "CutlassEnvironment",
            SEED_ENVIRONMENT,
            environment_with(accountId="222222222222"),
            (".spec.accountId", "spec.accountId is immutable: an environment is one AWS account"),
            id="account-id",
        ),
        pytest.param(
            "CutlassRegion",
            SEED_REGION,
            {**SEED_REGION, "awsRegion": "eu-west-1"},
            (".spec.awsRegion", "spec.awsRegion is immutable: create a new CutlassRegion"),
            id="aws-region",
        ),
        pytest.param(
            "CutlassRegion",
            SEED_REGION,
            region_with(vpcCidr="10.1.0.0/16", publicSubnetCidrs=["10.1.1.0/24"], privateSubnetCidrs=["10.1.3.0/24"]),
            (".spec.network.vpcCidr", "spec.network.vpcCidr is immutable: a VPC cannot be re-addressed"),
            id="vpc-cidr",
        ),
        pytest.param(
            "CutlassRegion",
            SEED_REGION,
            {**SEED_REGION, "region": "paris"},
            (".spec.region", "spec.region is immutable: it names every resource of the region"),
            id="region-name",
        ),
        pytest.param(
            "CutlassRegion",
            SEED_REGION,
            {**SEED_REGION, "environmentRef": {"name": "staging"}},
            (".spec.environmentRef", "spec.environmentRef is immutable"),
            id="environment-ref",
        ),
    ],
)
def test_changing_an_immutable_field_is_rejected(
    kind: str, old: dict[str, Any], new: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert admit(kind, new) == [], "the new spec must be valid on its own"
    assert_violations(admit(kind, new, old_spec=old), [expected])


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        pytest.param("CutlassEnvironment", SEED_ENVIRONMENT, SEED_ENVIRONMENT, id="environment-unchanged"),
        pytest.param(
            "CutlassEnvironment",
            SEED_ENVIRONMENT,
            environment_with(tier="staging", tags={"team": "core"}),
            id="environment-mutable-fields",
        ),
        pytest.param("CutlassRegion", SEED_REGION, SEED_REGION, id="region-unchanged"),
        pytest.param(
            "CutlassRegion",
            SEED_REGION,
            region_with(publicSubnetCidrs=["10.0.1.0/24", "10.0.2.0/24", "10.0.5.0/24"], natGateways="PerAZ"),
            id="region-subnets-added",
        ),
    ],
)
def test_an_update_that_keeps_the_immutable_fields_is_accepted(
    kind: str, old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert admit(kind, new, old_spec=old) == []
