"""The contract every AWS resource kind implements, in the shape of Crossplane's ExternalClient.

A kind observes all of its resources in a workspace at once (`observe_many`, one list or
describe call with a tag filter where the API has one), creates, updates and deletes one.
The engine owns diffing and ordering, so a kind only maps AWS's shapes to and from its typed
`Props`, which layers build and the engine compares in their flat form (`Props.properties`).

Identity lives in AWS, never in memory: every resource carries the `cutlass.tech/key` tag
naming its desired entry, so a reconcile that crashed after a create finds the resource again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from cutlass_operator.engine.errors import TerminalError


@dataclass(frozen=True)
class Ref:
    """A reference to an output of another desired resource, resolved when that one exists."""

    key: str
    output: str
    # Appended to the resolved value: an ARN built on another resource's, such as the API's
    # execution ARN narrowed to one route (`.../*/POST/usage-check`).
    suffix: str = ""

    def __str__(self) -> str:
        return f"(known after {self.key} is created){self.suffix}"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Struct:
    """A typed value of a kind's properties (a queue's redrive policy), frozen. Its flat form names
    each field in camelCase, or as its `metadata["name"]` says where AWS spells it otherwise; a
    field with `metadata["compared"] = False` (a package's body) is for the kind alone."""

    def properties(self) -> dict[str, Any]:
        return {
            f.metadata.get("name", camel(f.name)): flat(getattr(self, f.name))
            for f in fields(self)
            if f.metadata.get("compared", True) and not (f.metadata.get("omit_none") and getattr(self, f.name) is None)
        }


def unmanaged_when_none(**metadata: Any) -> Any:
    """A field left out of the flat form while None: the kind leaves that setting as AWS has it."""
    return field(default=None, metadata={"omit_none": True, **metadata})


@dataclass(frozen=True)
class Props(Struct):
    """What a layer asks of one resource of a kind: each kind declares its own, named `<Thing>Props`."""

    kind: ClassVar[str]


def flat(value: Any) -> Any:
    """Plain dictionaries and lists for the engine's diffs, plans and digests; `Ref`s stay."""
    if isinstance(value, Struct):
        return value.properties()
    if isinstance(value, Mapping):
        return {k: flat(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [flat(v) for v in value]
    return value


P = TypeVar("P", bound=Props)
P_co = TypeVar("P_co", bound=Props, covariant=True)


@dataclass(frozen=True)
class Scope:
    """A kind a layer manages, and the name prefix that finds its resources where AWS cannot list
    them by tags (alarms, templates, functions): the engine observes every kind a layer names here,
    wanted or not, so one the spec no longer wants is deleted as an orphan."""

    props: type[Props]
    name_prefix: str = ""


@dataclass(frozen=True)
class Desired(Generic[P_co]):
    """One resource as the spec wants it. `props` may hold `Ref`s anywhere inside."""

    key: str
    props: P_co
    name: str
    tags: Mapping[str, str]
    depends_on: frozenset[str] = frozenset()
    # Overrides the layer's deletion policy for this resource (None: follow it): the API layer's
    # user pool holds people's accounts, so it is data even though the API around it is not.
    retain: bool | None = None
    # The spec fields a property comes from, where a refusal must name what the user edits.
    origins: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.props.kind

    @cached_property
    def properties(self) -> Mapping[str, Any]:
        """The flat form the engine compares with `Observed.properties`."""
        return self.props.properties()

    def dependencies(self) -> frozenset[str]:
        return self.depends_on | {ref.key for ref in iter_refs(self.properties)}

    def resolved(self, outputs: Mapping[str, Mapping[str, Any]]) -> Desired[P_co]:
        """This entry with every `Ref` whose target has outputs replaced by the value."""
        return replace(self, props=resolve_refs(self.props, outputs))


@dataclass
class Observed:
    """One resource as AWS has it.

    `properties` uses the same names and shapes as `Desired.properties`; `private` keeps what
    only the kind needs later (association ids, attachment states) out of the diff.
    """

    key: str
    kind: str
    id: str
    properties: dict[str, Any]
    tags: dict[str, str]
    outputs: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldDiff:
    path: str
    current: Any
    desired: Any

    def __str__(self) -> str:
        return f"{self.path}: {self.current!r} -> {self.desired!r}"


class ClientFactory(Protocol):
    """Gives AWS clients already bound to the workspace's account and region."""

    def client(self, service: str, region: str | None = None) -> Any: ...


@dataclass(frozen=True)
class KindContext:
    clients: ClientFactory
    account_id: str
    region: str
    # Tags that select this workspace's managed resources (managed-by and workspace).
    selector: Mapping[str, str]


class ResourceKind(ABC, Generic[P]):
    props: ClassVar[type[Props]]
    kind: ClassVar[str]  # the `props` type's
    # Deletion goes from the highest rank down: dependants before what they depend on.
    delete_rank: ClassVar[int]
    # Properties AWS cannot change in place; a change to one is a terminal error, unless the kind
    # lists it in `replaceable` too: then the plan replaces the resource (the new one is created
    # beside the old, which goes once everything else was written). Only for resources whose old and
    # new copies can coexist (a stage or a domain of another name), and whose dependants follow the
    # new one through their own desired state.
    immutable: ClassVar[frozenset[str]] = frozenset()
    replaceable: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "props" in cls.__dict__:
            cls.kind = cls.props.kind

    def __init__(self, name_prefix: str = "", orphan_scope: str = "") -> None:
        """`name_prefix` finds the layer's resources where tags cannot; `orphan_scope` (the layer's
        key prefix) names those found that no entry wants."""
        self.name_prefix = name_prefix
        self.orphan_scope = orphan_scope

    @classmethod
    def scoped(cls, scope: Scope, orphan_scope: str) -> Self:
        """The kind as a layer's `Scope` asks for it."""
        return cls(scope.name_prefix, orphan_scope)

    @abstractmethod
    def observe_many(self, ctx: KindContext, desired: Sequence[Desired[P]]) -> list[Observed]:
        """Every managed resource of this kind in the workspace: the desired ones and orphans."""

    @abstractmethod
    def create(self, ctx: KindContext, desired: Desired[P]) -> Observed:
        """Create with identity tags in the same call where the API allows; return the new state."""

    @abstractmethod
    def update(self, ctx: KindContext, desired: Desired[P], observed: Observed, diff: list[FieldDiff]) -> Observed:
        """Bring the resource to the desired state in place."""

    @abstractmethod
    def delete(self, ctx: KindContext, observed: Observed) -> None:
        """Delete and, where AWS is asynchronous, wait until dependants can go too."""

    def retain(self, ctx: KindContext, observed: Observed) -> None:
        """Leave the resource in place but no longer managed: drop the identity tags that make
        the operator find it, and tag it as retained. Kinds holding data implement this."""
        raise TerminalError("RetainUnsupported", f"{self.kind} {observed.id} cannot be retained, only deleted")

    def removes(self, diff: Sequence[FieldDiff]) -> bool:
        """Whether an in-place update with this diff removes something that holds data or serves
        callers (a table's replica): change control gates it like a deletion."""
        return False

    def compare(self, desired: Desired[P], observed: Observed) -> list[FieldDiff]:
        """Fields whose observed value differs from the desired one; kinds may normalise first."""
        diffs = [
            FieldDiff(name, observed.properties.get(name), want)
            for name, want in sorted(desired.properties.items())
            if normalise(observed.properties.get(name)) != normalise(want)
        ]
        diffs += [
            FieldDiff(f"tags.{name}", observed.tags.get(name), want)
            for name, want in sorted(desired.tags.items())
            if observed.tags.get(name) != want
        ]
        return diffs


def normalise(value: Any) -> Any:
    """Order-insensitive comparison for lists of scalars or dicts, which AWS returns in any order."""
    if isinstance(value, Mapping):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [normalise(v) for v in value]
        return sorted(items, key=repr)
    return value


def iter_refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_refs(item)


def resolve_refs(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace each `Ref` whose target has outputs; leave the others in place (known after apply)."""
    if isinstance(value, Ref):
        target = outputs.get(value.key)
        if target is None or value.output not in target:
            return value
        return f"{target[value.output]}{value.suffix}" if value.suffix else target[value.output]
    if isinstance(value, Struct):
        return replace(value, **{f.name: resolve_refs(getattr(value, f.name), outputs) for f in fields(value)})
    if isinstance(value, Mapping):
        return {k: resolve_refs(v, outputs) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(resolve_refs(v, outputs) for v in value)
    if isinstance(value, list):
        return [resolve_refs(v, outputs) for v in value]
    return value
