"""The custom resource the benchmark creates: about 2 KiB of JSON each, as DESIGN.md section 6."""

from __future__ import annotations

from pydantic import Field

from opframe.resource import KubeModel, ObjectMeta, Resource

__all__ = [
    "GROUP",
    "BenchItem",
    "BenchSpec",
    "WorkItem",
    "WorkSpec",
    "WorkStatus",
    "item",
    "work_item",
]

GROUP = "bench.opframe.dev"
_PAYLOAD_ENTRIES = 16
_PAYLOAD_VALUE = "x" * 56


class BenchSpec(KubeModel):
    """A realistic-ish spec: an index and a map of settings."""

    index: int
    payload: dict[str, str]


class BenchItem(Resource, group=GROUP, version="v1"):
    """One benchmark object."""

    spec: BenchSpec


def item(index: int, namespace: str) -> BenchItem:
    """The ``index``-th object, about 2 KiB once the server adds its metadata."""
    payload = {f"setting-{n:02d}": _PAYLOAD_VALUE for n in range(_PAYLOAD_ENTRIES)}
    return BenchItem(
        metadata=ObjectMeta(
            name=f"item-{index:05d}",
            namespace=namespace,
            labels={"app.kubernetes.io/name": "bench", "bench.opframe.dev/shard": str(index % 16)},
        ),
        spec=BenchSpec(index=index, payload=payload),
    )


class WorkSpec(KubeModel):
    """What the load generator changes: ``revision`` (and the same payload as BenchItem)."""

    index: int
    revision: int = 0
    payload: dict[str, str]


class WorkStatus(KubeModel):
    """What the work reconciler reports: the revision it applied and its children seen."""

    observed_revision: int | None = None
    children: int | None = None


class WorkItem(Resource, group=GROUP, version="v1"):
    """A parent of the real-work benchmark: owns ConfigMaps, has a status subresource."""

    spec: WorkSpec
    status: WorkStatus = Field(default_factory=WorkStatus)


def work_item(index: int, namespace: str) -> WorkItem:
    """The ``index``-th parent, about 2 KiB once the server adds its metadata."""
    payload = {f"setting-{n:02d}": _PAYLOAD_VALUE for n in range(_PAYLOAD_ENTRIES)}
    return WorkItem(
        metadata=ObjectMeta(
            name=f"work-{index:05d}",
            namespace=namespace,
            labels={"app.kubernetes.io/name": "bench", "bench.opframe.dev/shard": str(index % 16)},
        ),
        spec=WorkSpec(index=index, payload=payload),
    )
