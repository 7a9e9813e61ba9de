"""The custom resource the benchmark creates: about 2 KiB of JSON each, as DESIGN.md section 6."""

from __future__ import annotations

from opframe.resource import KubeModel, ObjectMeta, Resource

__all__ = ["GROUP", "BenchItem", "BenchSpec", "item"]

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
