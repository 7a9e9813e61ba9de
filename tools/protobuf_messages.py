"""Regenerate the upper part of opframe/testing/apiserver/protobuf/messages.txt.

The field numbers of the Kubernetes messages are a published fact of the API (the
generated.proto files of k8s.io/api and k8s.io/apimachinery). Go binaries built from those
packages (kubectl among them) carry them as gzipped ``FileDescriptorProto`` blobs; this script
reads them from a kubectl binary, writes one line per message in our notation, keeps the part
of messages.txt below the ``HAND`` marker (messages written by hand from their .proto), and
adds the fields newer than the binary listed in ``ADDITIONS`` (read from the current .proto).
JSON names come from the proto names, checked against the kubernetes_asyncio models (embedded
structs become ``*``; a few proto names differ from JSON only by case).

    python tools/protobuf_messages.py /usr/bin/kubectl

Needs the ``protobuf`` and ``kubernetes_asyncio`` packages (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any

import kubernetes_asyncio.client.models as models
from google.protobuf import descriptor_pb2

TABLE = Path(__file__).parent.parent / "opframe/testing/apiserver/protobuf/messages.txt"
HAND = "# --- written by hand below this line ---"
APIMACHINERY = {
    "k8s.io.apimachinery.pkg.apis.meta.v1": "meta/v1",
    "k8s.io.apimachinery.pkg.runtime": "runtime",
    "k8s.io.apimachinery.pkg.api.resource": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr": "intstr",
}
GROUPS = [
    "core/v1", "apps/v1", "batch/v1", "policy/v1", "coordination/v1", "events/v1", "rbac/v1",
    "networking/v1", "autoscaling/v1", "autoscaling/v2", "discovery/v1", "storage/v1",
    "admissionregistration/v1", "authentication/v1", "authorization/v1", "scheduling/v1",
    "node/v1", "certificates/v1", "flowcontrol/v1",
]  # fmt: skip
SCALAR = {9: "string", 5: "int32", 3: "int64", 8: "bool", 12: "bytes", 1: "double", 2: "float"}
# Embedded Go structs (``json:",inline"``): their proto field is inlined into the parent's JSON.
INLINE = {"localObjectReference", "ephemeralContainerCommon", "persistentVolumeSource", "handler",
          "volumeSource", "ingressRuleValue", "ruleWithOperations", "rule"}  # fmt: skip
# Fields newer than kubectl 1.32's descriptors, read from the current generated.proto files.
ADDITIONS = {
    "core/v1": {
        "PodSpec": ["hostnameOverride=41:string"],
        "PodStatus": ["observedGeneration=17:int64", "allocatedResources=19:{quantity.Quantity}",
                      "resources=20:ResourceRequirements",
                      "extendedResourceClaimStatus=18:PodExtendedResourceClaimStatus"],
        "PodExtendedResourceClaimStatus": ["requestMappings=1:[ContainerExtendedResourceRequest]",
                                           "resourceClaimName=2:string"],
        "ContainerExtendedResourceRequest": ["containerName=1:string", "resourceName=2:string",
                                             "requestName=3:string"],
        "PodCondition": ["observedGeneration=7:int64"],
        "Lifecycle": ["stopSignal=3:string"],
        "EnvVarSource": ["fileKeyRef=5:FileKeySelector"],
        "FileKeySelector": ["volumeName=1:string", "path=2:string", "key=3:string",
                            "optional=4:bool"],
        "Container": ["restartPolicyRules=25:[ContainerRestartRule]"],
        "EphemeralContainerCommon": ["restartPolicyRules=25:[ContainerRestartRule]"],
        "ContainerRestartRule": ["action=1:string", "exitCodes=2:ContainerRestartRuleOnExitCodes"],
        "ContainerRestartRuleOnExitCodes": ["operator=1:string", "values=2:[int32]"],
        "ContainerStatus": ["stopSignal=15:string"],
        "NodeFeatures": ["containerUlimits=2:bool"],
        "NodeStatus": ["declaredFeatures=14:[string]"],
        "NodeSystemInfo": ["swap=11:NodeSwapStatus"],
        "NodeSwapStatus": ["capacity=1:int64"],
    },
    # staging/src/k8s.io/api/apps/v1/generated.proto
    "apps/v1": {
        "DeploymentStatus": ["terminatingReplicas=9:int32"],
        "ReplicaSetStatus": ["terminatingReplicas=7:int32"],
    },
}  # fmt: skip
HEADER = """\
# Kubernetes protobuf messages: one line per message, `jsonName=fieldNumber:type`.
# type: string int32 int64 bool bytes double float, or a message (`Name` in this section,
# `section.Name` in another); `[T]` repeated, `{T}` map<string, T>; `*` an embedded struct whose
# fields are inlined in JSON. Field numbers are those of k8s.io/api and k8s.io/apimachinery
# generated.proto: Kubernetes 1.32 descriptors plus the 1.36 additions of
# tools/protobuf_messages.py, which regenerates the part above the hand-written one.
"""


def descriptors(binary: bytes) -> dict[str, Any]:
    """The FileDescriptorProtos of k8s.io packages found gzipped in a Go binary."""
    found: dict[str, Any] = {}
    i = binary.find(b"\x1f\x8b\x08")
    while i >= 0:
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(binary[i : i + 4_000_000])
            fd = descriptor_pb2.FileDescriptorProto()
            fd.ParseFromString(raw)
            if fd.name.startswith("k8s.io/") and fd.message_type:
                found[fd.package] = fd
        except Exception:  # not a descriptor: keep scanning
            pass
        i = binary.find(b"\x1f\x8b\x08", i + 3)
    return found


def _model_names(section: str, name: str) -> set[str] | None:
    if "/" not in section:
        return None
    group, version = section.split("/")
    for cls_name in (f"{group.capitalize()}{version.capitalize()}{name}",
                     f"{version.capitalize()}{name}"):  # fmt: skip
        cls = getattr(models, cls_name, None)
        if cls is not None:
            return set(cls.attribute_map.values())
    return None


def main(kubectl: str) -> None:
    sections = dict(APIMACHINERY)
    sections.update({"k8s.io.api." + g.replace("/", "."): g for g in GROUPS})
    fds = descriptors(Path(kubectl).read_bytes())

    def ref(type_name: str, here: str) -> str:
        package, _, name = type_name.lstrip(".").rpartition(".")
        return name if sections[package] == here else f"{sections[package]}.{name}"

    out: list[str] = []
    for package, section in sections.items():
        out.append(f"[{section}]")
        for m in fds[package].message_type:
            entries = {nt.name: nt for nt in m.nested_type if nt.options.map_entry}
            parts = [m.name]
            for f in m.field:
                short = f.type_name.rpartition(".")[2]
                if f.type == 11 and short in entries:
                    value = entries[short].field[1]
                    t = "{" + (SCALAR.get(value.type) or ref(value.type_name, section)) + "}"
                else:
                    t = ref(f.type_name, section) if f.type == 11 else SCALAR[f.type]
                    t = f"[{t}]" if f.label == 3 else t
                name = "raw" if f.name == "Raw" else f.name
                known = _model_names(section, m.name)
                if known is not None and name not in known:
                    if name in INLINE and f.type == 11:
                        name = "*"
                    else:
                        name = next((k for k in known if k.lower() == name.lower()), name)
                parts.append(f"{name}={f.number}:{t}")
            parts += ADDITIONS.get(section, {}).pop(m.name, [])
            out.append(" ".join(parts))
        for name, fields in ADDITIONS.get(section, {}).items():
            out.append(" ".join([name, *fields]))
    hand = TABLE.read_text().partition(HAND)[2] if TABLE.exists() else ""
    TABLE.write_text(HEADER + "\n".join(out) + "\n" + HAND + hand)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/kubectl")
