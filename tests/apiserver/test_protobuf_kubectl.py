"""Protobuf checked against Kubernetes' own code: the official protobuf runtime with the
descriptors compiled into kubectl, and kubectl (Go) itself reading and writing protobuf.

See tests/apiserver/test_protobuf.py for the wire format's sources; kubectl sends protobuf for
its ``create`` subcommands (staging/src/k8s.io/kubectl/pkg/cmd/create) through client-go's
typed clients, which ask for ``application/vnd.kubernetes.protobuf,application/json``.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from _kubectl import kubectl_ok

from opframe.testing.apiserver import ApiServer, protobuf
from opframe.testing.apiserver.protobuf.descriptors import message_for

SAMPLES = [
    d
    for d in yaml.safe_load_all((Path(__file__).parent / "protobuf_samples.yaml").read_text())
    if d
]


def _sample_id(doc: dict[str, Any]) -> str:
    return f"{doc['apiVersion']}/{doc['kind']}/{doc.get('metadata', {}).get('name', '')}"


# -- cross-check with the official protobuf runtime ----------------------------------------------

# Fields our table has that kubectl 1.32's descriptors do not (added to the API since).
NEWER_THAN_KUBECTL = {
    ("k8s.io.api.core.v1.PodSpec", 41),
    ("k8s.io.api.core.v1.PodStatus", 17),
    ("k8s.io.api.core.v1.PodStatus", 19),
    ("k8s.io.api.core.v1.PodStatus", 20),
    ("k8s.io.api.core.v1.PodStatus", 18),
    ("k8s.io.api.core.v1.PodCondition", 7),
    ("k8s.io.api.core.v1.Lifecycle", 3),
    ("k8s.io.api.apps.v1.DeploymentStatus", 9),
    ("k8s.io.api.apps.v1.ReplicaSetStatus", 7),
    ("k8s.io.api.core.v1.EnvVarSource", 5),
    ("k8s.io.api.core.v1.Container", 25),
    ("k8s.io.api.core.v1.ContainerStatus", 15),
    ("k8s.io.api.core.v1.NodeFeatures", 2),
    ("k8s.io.api.core.v1.NodeStatus", 14),
    ("k8s.io.api.core.v1.NodeSystemInfo", 11),
}


def _kubectl_pool() -> Any:
    """A descriptor pool of the k8s.io messages compiled into the kubectl binary."""
    import zlib

    descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
    descriptor_pool = pytest.importorskip("google.protobuf.descriptor_pool")
    binary = Path(shutil.which("kubectl") or "/nonexistent")
    if not binary.exists():
        pytest.skip("kubectl is not on PATH")
    data = binary.read_bytes()
    files: dict[str, Any] = {}
    i = data.find(b"\x1f\x8b\x08")
    while i >= 0:
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i : i + 4_000_000])
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            if fd.name.startswith("k8s.io/") and fd.message_type:
                files[fd.name] = fd
        except Exception:  # not a gzipped descriptor: keep scanning
            pass
        i = data.find(b"\x1f\x8b\x08", i + 3)
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(fd: Any) -> None:
        if fd.name in added:
            return
        deps = [d for d in fd.dependency if d in files]
        for d in deps:
            add(files[d])
        copy = descriptor_pb2.FileDescriptorProto()
        copy.CopyFrom(fd)
        del copy.dependency[:]
        copy.dependency.extend(deps)
        pool.Add(copy)
        added.add(fd.name)

    for fd in files.values():
        add(fd)
    return pool


def _unknown_fields(msg: Any) -> set[tuple[str, int]]:
    from google.protobuf.unknown_fields import UnknownFieldSet

    found = {(msg.DESCRIPTOR.full_name, f.field_number) for f in UnknownFieldSet(msg)}
    for field, value in msg.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [v for v in value.values() if hasattr(v, "ListFields")]
        elif getattr(field, "is_repeated", False) or getattr(field, "label", 1) == 3:
            items = list(value)
        else:
            items = [value]
        for item in items:
            found |= _unknown_fields(item)
    return found


_PACKAGES = {"meta/v1": "k8s.io.apimachinery.pkg.apis.meta.v1"}


@pytest.fixture(scope="module")
def kubectl_pool() -> Any:
    return _kubectl_pool()


@pytest.mark.parametrize(
    "doc", [d for d in SAMPLES if "apiextensions" not in d["apiVersion"]], ids=_sample_id
)
def test_the_official_runtime_reads_our_bytes_with_kubectls_descriptors(
    kubectl_pool: Any, doc: dict[str, Any]
) -> None:
    """Every field we write has the number and wire type of kubectl's own descriptors: the
    google.protobuf runtime parses it into a known field (an independent check of the table)."""
    message_factory = pytest.importorskip("google.protobuf.message_factory")
    msg = message_for(doc["apiVersion"], doc["kind"])
    assert msg is not None
    section, _, name = msg.name.partition(".")
    package = _PACKAGES.get(section, "k8s.io.api." + section.replace("/", "."))
    cls = message_factory.GetMessageClass(kubectl_pool.FindMessageTypeByName(f"{package}.{name}"))
    parsed = cls.FromString(protobuf.codec.encode_message(msg, doc))
    assert _unknown_fields(parsed) <= NEWER_THAN_KUBECTL


KUBECTL_BODIES = list(
    yaml.safe_load_all((Path(__file__).parent / "protobuf_kubectl_bodies.yaml").read_text())
)


def _without_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_nulls(v) for v in obj]
    return obj


@pytest.mark.parametrize("case", KUBECTL_BODIES, ids=lambda c: c["command"])
def test_decodes_what_kubectl_sends_as_kubectl_prints_it(case: dict[str, Any]) -> None:
    """kubectl's protobuf body decodes to the object kubectl itself prints as JSON for the same
    command (``--dry-run=client -o json``); nulls aside (Go writes a nil list without
    omitempty as null, we leave it out)."""
    decoded = protobuf.decode_object(base64.b64decode(case["protobuf"]))
    assert _without_nulls(decoded) == _without_nulls(case["dryRunJson"])


# -- kubectl (Go) reads what we encode -------------------------------------------------------------

CREATES = [
    ("namespace", "pb-x"),
    ("configmap", "pb-c", "--from-literal=a=1", "--from-literal=empty="),
    ("secret", "generic", "pb-s", "--from-literal=p=q"),
    ("deployment", "pb-d", "--image=nginx:1.25", "--replicas=0", "--port=80"),
    ("serviceaccount", "pb-sa"),
    ("role", "pb-r", "--verb=get,list", "--resource=pods,deployments.apps"),
    ("rolebinding", "pb-rb", "--role=pb-r", "--user=jane"),
    ("clusterrole", "pb-cr", "--verb=get", "--non-resource-url=/metrics"),
    ("clusterrolebinding", "pb-crb", "--clusterrole=pb-cr", "--group=devs"),
    ("pdb", "pb-p", "--selector=a=b", "--max-unavailable=25%"),
    ("service", "clusterip", "pb-svc", "--tcp=80:8080"),
]


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize("args", CREATES, ids=lambda a: "-".join(a[:2]))
async def test_kubectl_reads_our_protobuf_answer_as_our_json(
    api_server: ApiServer, args: tuple[str, ...]
) -> None:
    """``kubectl create -o json`` prints the protobuf answer as Go decoded it; it must equal
    ``kubectl get -o json`` of the same object, which is read as JSON."""

    async def kubectl(*argv: str) -> Any:
        return json.loads(await kubectl_ok(api_server, *argv))

    created = await kubectl("create", *args, "-o", "json")
    kind, name = created["kind"].lower(), created["metadata"]["name"]
    namespace = (
        ["-n", created["metadata"]["namespace"]] if "namespace" in created["metadata"] else []
    )
    assert created == await kubectl("get", kind, name, *namespace, "-o", "json")
