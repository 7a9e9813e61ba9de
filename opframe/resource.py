"""Typed Kubernetes objects: the :class:`Resource` base, object metadata, and the registry.

A resource declares its API identity on the class and its shape as pydantic fields::

    class EtcdClusterSpec(KubeModel):
        size: int = 3

    class EtcdCluster(Resource, group="etcd.opframe.dev", version="v1alpha1", scope="Namespaced"):
        spec: EtcdClusterSpec
        status: EtcdClusterStatus | None = None

    EtcdCluster.__resource__.plural        # "etcdclusters"
    obj = EtcdCluster.from_dict(wire)     # camelCase JSON in, snake_case attributes out
    obj.to_dict()                          # and back, unknown fields included

Python attributes are snake_case and the wire format is camelCase, with the Kubernetes
initialisms (``podIP``, ``clusterID``, ``peerURLs``). Fields this version of a model does not
know (sent by a newer server) are kept and written back, never dropped silently.

Built-in kinds (:mod:`opframe.kinds`) are ``Resource`` subclasses too, declared with
``builtin=True`` so that no CRD is generated for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    Self,
    TypeAlias,
    TypedDict,
    TypeVar,
    Unpack,
)

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from opframe._markers import ListType, PrinterColumn, Scale, Validation

__all__ = [
    "Condition",
    "Conditions",
    "KubeModel",
    "ListMeta",
    "MicroTime",
    "ObjectMeta",
    "OwnerReference",
    "Resource",
    "ResourceInfo",
    "ResourceList",
    "ResourceOptions",
    "ResourceRegistry",
    "Time",
    "pluralize",
    "registry",
    "split_api_version",
    "wire_name",
]

# Go field names keep initialisms upper case (PodIP, ClusterID, PeerURLs) and the JSON names
# follow them; a plain camelCase generator would produce podIp, which the server ignores.
_INITIALISMS = {
    "cidr": "CIDR",
    "cidrs": "CIDRs",
    "dns": "DNS",
    "fqdn": "FQDN",
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "ipc": "IPC",
    "ips": "IPs",
    "pid": "PID",
    "tls": "TLS",
    "uid": "UID",
    "uri": "URI",
    "url": "URL",
    "urls": "URLs",
    "uuid": "UUID",
}


def wire_name(name: str) -> str:
    """The camelCase JSON name of a snake_case attribute, as Kubernetes spells it.

    A trailing underscore (used for Python keywords) is dropped, and initialisms after the
    first word are upper case::

        wire_name("pod_ip") == "podIP"
        wire_name("continue_") == "continue"
        wire_name("api_version") == "apiVersion"
    """
    words = name.rstrip("_").split("_")
    head, rest = words[0], words[1:]
    return head + "".join(_INITIALISMS.get(w, w[:1].upper() + w[1:]) for w in rest if w)


def pluralize(kind: str) -> str:
    """The lower-case plural resource name of a kind, by English rules.

    ``EtcdCluster`` -> ``etcdclusters``, ``Policy`` -> ``policies``, ``Ingress`` ->
    ``ingresses``, ``Box`` -> ``boxes``. Irregular names are passed as ``plural=``.
    """
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` (the core group) -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def _utc(value: datetime) -> datetime:
    # A naive datetime is taken as UTC: the API server has no other zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _format_time(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_micro_time(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Time: TypeAlias = Annotated[
    datetime, PlainSerializer(_format_time, return_type=str, when_used="json")
]
"""A ``metav1.Time``: RFC 3339 in UTC with whole seconds (``2024-05-01T10:00:00Z``)."""

MicroTime: TypeAlias = Annotated[
    datetime, PlainSerializer(_format_micro_time, return_type=str, when_used="json")
]
"""A ``metav1.MicroTime``: always six fractional digits, which the API server insists on
(``2024-05-01T10:00:00.000000Z``); Leases and ``events.k8s.io`` Events use it."""


class KubeModel(BaseModel):
    """Base for every part of a Kubernetes object: spec and status models and their parts.

    Attributes are snake_case and the wire names camelCase (:func:`wire_name`); either
    spelling is accepted on input. Unknown fields are kept (``extra="allow"``) so that an
    object read from a newer server is written back whole. A docstring under a field is its
    description (the field's ``description`` in a generated CRD).
    """

    model_config = ConfigDict(
        alias_generator=wire_name,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, JSON values, fields that are ``None`` left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Parse the wire form (camelCase keys, as the API server sends it)."""
        return cls.model_validate(data)


class OwnerReference(KubeModel):
    """A reference from a dependent to its owner (``metadata.ownerReferences[]``)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    """Standard object metadata (``metav1.ObjectMeta``).

    Maps and lists are ``None`` when the server sent none, as on the wire. ``managed_fields``
    is kept as raw JSON (server-side apply bookkeeping) and hidden from ``repr``.
    """

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = Field(default=None, repr=False)


class ListMeta(KubeModel):
    """Metadata of a list answer (``metav1.ListMeta``): its version and continue token."""

    resource_version: str | None = None
    continue_: str | None = None
    remaining_item_count: int | None = None


# The validation metav1.Condition carries upstream, so CRDs embedding it validate the same way.
_CONDITION_TYPE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(KubeModel):
    """One status condition (``metav1.Condition``).

    ``last_transition_time`` changes only when ``status`` changes; ``observed_generation``
    is the ``metadata.generation`` the condition was computed from.
    """

    type: str = Field(max_length=316, pattern=_CONDITION_TYPE)
    """Type of condition in CamelCase or in ``foo.example.com/CamelCase``."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition, one of True, False, Unknown."""
    last_transition_time: Time
    """Last time the condition transitioned from one status to another."""
    reason: str = Field(min_length=1, max_length=1024, pattern=_CONDITION_REASON)
    """A programmatic identifier (CamelCase) for the reason of the last transition."""
    message: str = Field("", max_length=32768)
    """A human readable message with details about the transition."""
    observed_generation: int | None = Field(None, ge=0)
    """The ``metadata.generation`` the condition was set based upon."""


Conditions: TypeAlias = Annotated[list[Condition], ListType("map", keys=("type",))]
"""A status ``conditions`` list, merged by condition type (as upstream ``conditions`` are)::

    class MyStatus(KubeModel):
        conditions: Conditions = []
"""


@dataclass(frozen=True)
class ResourceInfo:
    """The API identity and CRD options of a :class:`Resource` class (``cls.__resource__``).

    Attributes:
        group: the API group, ``""`` for the core group.
        version: the API version within the group (``v1alpha1``).
        kind: the kind (``EtcdCluster``).
        plural: the resource name in URLs (``etcdclusters``).
        singular: the singular resource name (``etcdcluster``).
        namespaced: ``True`` for namespaced resources, ``False`` for cluster-scoped ones.
        short_names: names ``kubectl`` accepts instead of the plural.
        categories: groups such as ``all`` that ``kubectl get <category>`` lists.
        builtin: a built-in kind (served by the API server itself, no CRD).
        served: this version is served (CRD ``versions[].served``).
        storage: this version is the storage version (exactly one per CRD).
        deprecated: this version is deprecated; ``deprecation_warning`` is the message.
        printer_columns: class-level ``kubectl get`` columns (field-level ones are added by
            :mod:`opframe.crd`).
        scale: the scale subresource, or ``None``.
        status_subresource: whether ``status`` is a subresource (by default: the model has
            a ``status`` field).
        validations: CEL rules on the whole object.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    builtin: bool = False
    served: bool = True
    storage: bool = True
    deprecated: bool = False
    deprecation_warning: str | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    scale: Scale | None = None
    status_subresource: bool = False
    validations: tuple[Validation, ...] = ()

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def scope(self) -> Literal["Namespaced", "Cluster"]:
        """The CRD scope: ``Namespaced`` or ``Cluster``."""
        return "Namespaced" if self.namespaced else "Cluster"

    @property
    def list_kind(self) -> str:
        """The kind of a list of these objects (``EtcdClusterList``)."""
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        """The name of the CRD that serves this resource: ``<plural>.<group>``."""
        return f"{self.plural}.{self.group}"

    @property
    def subresources(self) -> frozenset[str]:
        """The names of the subresources: ``status`` and/or ``scale``."""
        names = {"status"} if self.status_subresource else set()
        if self.scale is not None:
            names.add("scale")
        return frozenset(names)


class ResourceOptions(TypedDict, total=False):
    """The class keywords of a :class:`Resource` subclass (see :class:`ResourceInfo`)."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    scope: Literal["Namespaced", "Cluster"]
    short_names: Sequence[str]
    categories: Sequence[str]
    builtin: bool
    served: bool
    storage: bool
    deprecated: bool
    deprecation_warning: str
    printer_columns: Sequence[PrinterColumn]
    scale: Scale
    status_subresource: bool
    validations: Sequence[Validation]
    register: bool


# Options describing what the resource *is*, inherited by a subclass that declares another
# version of it; per-version flags (storage, served, deprecated) start again from defaults.
_INHERITED = (
    "group",
    "kind",
    "plural",
    "singular",
    "namespaced",
    "short_names",
    "categories",
    "builtin",
    "printer_columns",
    "scale",
    "validations",
)


class Resource(KubeModel):
    """Base class of every typed Kubernetes object, custom or built-in.

    Declare the API identity with class keywords (all but ``version`` optional):

    - ``group`` (``""``, the core group), ``version``, ``kind`` (the class name),
      ``plural`` (derived from the kind by English rules), ``singular``,
      ``scope`` (``"Namespaced"`` or ``"Cluster"``), ``short_names``, ``categories``;
    - CRD options: ``served``, ``storage``, ``deprecated``, ``deprecation_warning``,
      ``printer_columns``, ``scale``, ``status_subresource``, ``validations``;
    - ``builtin=True`` for kinds the API server serves itself;
    - ``register=False`` to keep the class out of :data:`registry`.

    A subclass of a declared resource that passes ``version=`` declares another version of the
    same kind and inherits its identity; a subclass without keywords is the same resource.
    The class's :class:`ResourceInfo` is ``cls.__resource__``.
    """

    __resource__: ClassVar[ResourceInfo]

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def __init_subclass__(cls, **kwargs: Unpack[ResourceOptions]) -> None:
        options: dict[str, Any] = dict(kwargs)
        register = options.pop("register", True)
        # Keywords that are not ours (pydantic's config keys are consumed by its metaclass)
        # go on to the next class in the MRO, which rejects what nobody understood.
        ours = {k: options.pop(k) for k in list(options) if k in ResourceOptions.__annotations__}
        super().__init_subclass__(**options)
        if not ours:
            return
        if "version" not in ours:
            raise TypeError(
                f"{cls.__qualname__}: resource keywords {sorted(ours)} need version=... "
                "(every resource declaration names its API version)"
            )
        cls.__resource__ = _build_info(cls, ours)
        if register:
            registry.register(cls)

    @model_validator(mode="after")
    def _fill_type_meta(self) -> Self:
        info: ResourceInfo | None = getattr(type(self), "__resource__", None)
        if info is None:
            return self
        if not self.api_version:
            self.api_version = info.api_version
        elif self.api_version != info.api_version:
            raise ValueError(
                f"apiVersion {self.api_version!r} does not match {type(self).__name__}, "
                f"which is {info.api_version!r}; parse it with the model of that version"
            )
        if not self.kind:
            self.kind = info.kind
        elif self.kind != info.kind:
            raise ValueError(f"kind {self.kind!r} does not match {type(self).__name__}")
        return self

    @property
    def key(self) -> str:
        """``namespace/name``, or ``name`` for a cluster-scoped object (the cache key)."""
        ns, name = self.metadata.namespace, self.metadata.name or ""
        return f"{ns}/{name}" if ns else name

    def owner_reference(
        self, *, controller: bool = True, block_owner_deletion: bool = True
    ) -> OwnerReference:
        """An owner reference to this object, to put on the objects it owns.

        Raises:
            ValueError: the object has no ``name`` or ``uid`` yet (it was not read back from
                the API server).
        """
        if not self.metadata.name or not self.metadata.uid:
            raise ValueError(
                f"{self.kind} {self.key!r} has no name or uid yet; "
                "use the object as returned by the API server as the owner"
            )
        return OwnerReference(
            api_version=self.api_version,
            kind=self.kind,
            name=self.metadata.name,
            uid=self.metadata.uid,
            controller=controller,
            block_owner_deletion=block_owner_deletion,
        )


def _build_info(cls: type[Resource], ours: dict[str, Any]) -> ResourceInfo:
    parent: ResourceInfo | None = getattr(cls, "__resource__", None)
    inherited: dict[str, Any] = {}
    if parent is not None:
        inherited = {name: getattr(parent, name) for name in _INHERITED}
    kind = ours.get("kind", inherited.get("kind", cls.__name__))
    if "kind" in ours and parent is not None and ours["kind"] != parent.kind:
        # A different kind is a different resource: derive its names afresh.
        inherited.pop("plural")
        inherited.pop("singular")
    scope = ours.get("scope")
    if scope is not None and scope not in ("Namespaced", "Cluster"):
        raise TypeError(
            f"{cls.__qualname__}: scope must be 'Namespaced' or 'Cluster', not {scope!r}"
        )
    status_declared = any("status" in vars(c).get("__annotations__", {}) for c in cls.__mro__)
    values: dict[str, Any] = {
        **inherited,
        "group": ours.get("group", inherited.get("group", "")),
        "version": ours["version"],
        "kind": kind,
        "plural": ours.get("plural", inherited.get("plural") or pluralize(kind)),
        "singular": ours.get("singular", inherited.get("singular") or kind.lower()),
        "namespaced": inherited.get("namespaced", True) if scope is None else scope == "Namespaced",
        "served": ours.get("served", True),
        "storage": ours.get("storage", True),
        "deprecated": ours.get("deprecated", False),
        "deprecation_warning": ours.get("deprecation_warning"),
        "status_subresource": ours.get("status_subresource", status_declared),
    }
    for name in ("short_names", "categories", "printer_columns", "validations"):
        if name in ours:
            value = ours[name]
            if isinstance(value, str):
                raise TypeError(f"{cls.__qualname__}: {name} takes a sequence, not a string")
            values[name] = tuple(value)
    for name in ("builtin", "scale"):
        if name in ours:
            values[name] = ours[name]
    return ResourceInfo(**values)


T = TypeVar("T", bound=Resource)


class ResourceList(KubeModel, Generic[T]):
    """A list answer: ``ResourceList[Pod].from_dict(body)``.

    ``metadata.resource_version`` is the version to watch from, ``metadata.continue_`` the
    token for the next page.
    """

    api_version: str = ""
    kind: str = ""
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[T] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_type_meta(self) -> Self:
        args = type(self).__pydantic_generic_metadata__["args"]
        info: ResourceInfo | None = getattr(args[0], "__resource__", None) if args else None
        if info is not None:
            self.api_version = self.api_version or info.api_version
            self.kind = self.kind or info.list_kind
        return self


class ResourceRegistry:
    """Resource classes by (group, version, kind) and by (group, plural).

    Every :class:`Resource` subclass that declares a version registers itself in
    :data:`registry` when it is defined. A class defined again under the same
    group/version/kind (a reloaded module, a test) replaces the earlier one.
    """

    def __init__(self) -> None:
        self._by_gvk: dict[tuple[str, str, str], type[Resource]] = {}

    def register(self, cls: type[Resource]) -> None:
        """Add ``cls`` under its group, version and kind."""
        info = cls.__resource__
        self._by_gvk[(info.group, info.version, info.kind)] = cls

    def unregister(self, cls: type[Resource]) -> None:
        """Remove ``cls`` if it is the class registered for its group, version and kind."""
        info = cls.__resource__
        gvk = (info.group, info.version, info.kind)
        if self._by_gvk.get(gvk) is cls:
            del self._by_gvk[gvk]

    def get(self, api_version: str, kind: str) -> type[Resource] | None:
        """The class for ``apiVersion`` and ``kind`` (``"apps/v1", "Deployment"``), or None."""
        group, version = split_api_version(api_version)
        return self._by_gvk.get((group, version, kind))

    def get_by_plural(
        self, group: str, plural: str, version: str | None = None
    ) -> type[Resource] | None:
        """The class serving ``plural`` in ``group``, or None.

        Without ``version``, the storage version's class when several versions are registered.
        """
        found = [
            cls
            for (g, v, _), cls in self._by_gvk.items()
            if g == group
            and cls.__resource__.plural == plural
            and (version is None or v == version)
        ]
        if not found:
            return None
        return next((c for c in found if c.__resource__.storage), found[0])

    def versions(self, group: str, kind: str) -> list[type[Resource]]:
        """Every registered version of ``kind`` in ``group``, in registration order."""
        return [cls for (g, _, k), cls in self._by_gvk.items() if g == group and k == kind]

    def __iter__(self) -> Iterator[type[Resource]]:
        return iter(list(self._by_gvk.values()))

    def __len__(self) -> int:
        return len(self._by_gvk)

    def __contains__(self, cls: object) -> bool:
        return cls in self._by_gvk.values()


registry = ResourceRegistry()
"""The process-wide registry every declared :class:`Resource` subclass joins."""
