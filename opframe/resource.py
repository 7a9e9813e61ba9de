"""Typed Kubernetes objects: the :class:`Resource` base, object metadata, API identity.

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

from collections.abc import Sequence
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
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from opframe._markers import ListType, PrinterColumn, Scale, Validation
from opframe.errors import ConfigError
from opframe.objectref import ObjectRef

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
    "Time",
    "resource_info",
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
    """The API identity, REST coordinates and CRD options of a kind (``cls.__resource__``).

    The one record of "where a kind lives": the client builds URLs from it (:meth:`path`),
    the CRD generator reads its options, messages name objects with :meth:`describe`::

        EtcdCluster.__resource__.path("default", "main")
        # "/apis/etcd.opframe.dev/v1alpha1/namespaces/default/etcdclusters/main"

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

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The URL path of the collection, or of one object (and its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            if not name:
                raise ValueError(f"{self.kind}: an empty name has no URL")
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def describe(self, name: str | None, namespace: str | None = None) -> str:
        """``Kind namespace/name`` (or ``Kind name``, or ``Kind``) for messages."""
        if name is None:
            return self.kind
        return f"{self.kind} {namespace}/{name}" if namespace else f"{self.kind} {name}"


def resource_info(model: type[Any]) -> ResourceInfo:
    """The :class:`ResourceInfo` of a resource class, or a :class:`ConfigError` saying why not.

    Example::

        resource_info(Pod).plural   # "pods"
    """
    info = getattr(model, "__resource__", None)
    if not isinstance(info, ResourceInfo):
        raise ConfigError(
            f"{getattr(model, '__name__', model)!s} is not a resource class: subclass "
            "opframe.Resource and declare group=, version= (and scope=) on it"
        )
    return info


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
    - ``builtin=True`` for kinds the API server serves itself.

    A subclass of a declared resource that passes ``version=`` declares another version of the
    same kind and inherits its identity; a subclass without keywords is the same resource.
    The class's :class:`ResourceInfo` is ``cls.__resource__``.

    :attr:`name`, :attr:`namespace` and :attr:`ref` read the identity of an object as
    ``str``/:class:`~opframe.ObjectRef` (an object read from the server always has them)::

        await client.delete(ConfigMap, cm.name, cm.namespace)
    """

    __resource__: ClassVar[ResourceInfo]

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def __init_subclass__(cls, **kwargs: Unpack[ResourceOptions]) -> None:
        options: dict[str, Any] = dict(kwargs)
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
    def name(self) -> str:
        """``metadata.name``; :class:`ValueError` if it is not set (yet)."""
        name = self.metadata.name
        if not name:
            raise ValueError(
                f"{self.kind or type(self).__name__} has no metadata.name"
                + (
                    " (it has generateName: read it back from the server)"
                    if self.metadata.generate_name
                    else ": set it before using the object"
                )
            )
        return name

    @property
    def namespace(self) -> str:
        """``metadata.namespace``; ``""`` for a cluster-scoped kind.

        Raises :class:`ValueError` for a namespaced kind whose object has no namespace.
        """
        namespace = self.metadata.namespace
        if namespace:
            return namespace
        info: ResourceInfo | None = getattr(type(self), "__resource__", None)
        if info is not None and not info.namespaced:
            return ""
        raise ValueError(
            f"{self.kind or type(self).__name__} {self.metadata.name or ''} has no "
            "metadata.namespace: set it (the kind is namespaced)"
        )

    @property
    def ref(self) -> ObjectRef:
        """The object's :class:`~opframe.ObjectRef` (cache, queue and event key)."""
        return ObjectRef(self.metadata.namespace or "", self.name)

    def describe(self) -> str:
        """``Kind namespace/name`` for messages (never raises, even without a name)."""
        meta = self.metadata
        kind = self.kind or type(self).__name__
        if not meta.name:
            return kind
        return f"{kind} {meta.namespace}/{meta.name}" if meta.namespace else f"{kind} {meta.name}"


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
