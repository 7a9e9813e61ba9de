import pickle, sys
from google.protobuf import descriptor_pb2 as d

fds = pickle.load(open("fds.pkl", "rb"))
PKG = {
    "k8s.io.apimachinery.pkg.apis.meta.v1": "meta/v1",
    "k8s.io.apimachinery.pkg.runtime": "runtime",
    "k8s.io.apimachinery.pkg.api.resource": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr": "intstr",
}
FILES = ["meta/v1", "runtime", "quantity", "intstr"]
GROUPS = [
    "core/v1",
    "apps/v1",
    "batch/v1",
    "policy/v1",
    "coordination/v1",
    "events/v1",
    "rbac/v1",
    "networking/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "discovery/v1",
    "storage/v1",
    "admissionregistration/v1",
    "authentication/v1",
    "authorization/v1",
    "scheduling/v1",
    "node/v1",
    "certificates/v1",
    "flowcontrol/v1",
]
paths = {
    "meta/v1": "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto",
    "runtime": "k8s.io/apimachinery/pkg/runtime/generated.proto",
    "quantity": "k8s.io/apimachinery/pkg/api/resource/generated.proto",
    "intstr": "k8s.io/apimachinery/pkg/util/intstr/generated.proto",
}
for g in GROUPS:
    paths[g] = f"k8s.io/api/{g}/generated.proto"
    PKG["k8s.io.api." + g.replace("/", ".")] = g
SCALAR = {
    9: "string",
    5: "int32",
    3: "int64",
    8: "bool",
    12: "bytes",
    1: "double",
    2: "float",
    13: "uint32",
    4: "uint64",
}


def ref(tn, here):
    tn = tn.lstrip(".")
    pkg, _, name = tn.rpartition(".")
    if pkg not in PKG:
        raise SystemExit(f"unknown package {pkg}")
    return name if PKG[pkg] == here else f"{PKG[pkg]}.{name}"


INLINE = {
    "localObjectReference",
    "ephemeralContainerCommon",
    "persistentVolumeSource",
    "handler",
    "volumeSource",
    "ingressRuleValue",
    "ruleWithOperations",
    "rule",
}
import kubernetes_asyncio.client.models as M


def model_names(key, name):
    if "/" not in key:
        return None
    g, v = key.split("/")
    for c in (f"{g.capitalize()}{v.capitalize()}{name}", f"{v.capitalize()}{name}"):
        cls = getattr(M, c, None)
        if cls:
            return set(cls.attribute_map.values())
    return None


out = []
for key in FILES + GROUPS:
    fd = d.FileDescriptorProto()
    fd.ParseFromString(fds[paths[key]])
    out.append(f"[{key}]")
    for m in fd.message_type:
        entries = {nt.name: nt for nt in m.nested_type if nt.options.map_entry}
        parts = [m.name]
        for f in m.field:
            if f.type == 11:
                tn = f.type_name.lstrip(".")
                short = tn.rpartition(".")[2]
                if short in entries:
                    k, v = entries[short].field
                    assert k.type == 9, (m.name, f.name)
                    t = "{" + (SCALAR[v.type] if v.type != 11 else ref(v.type_name, key)) + "}"
                else:
                    t = ref(f.type_name, key)
            else:
                t = SCALAR[f.type]
            if f.label == 3 and not t.startswith("{"):
                t = f"[{t}]"
            assert f.json_name == f.name or f.name == "Raw", (m.name, f.name, f.json_name)
            jname = f.name
            known = model_names(key, m.name)
            if known is not None and jname not in known:
                if jname in INLINE and f.type == 11:
                    jname = "*"
                else:
                    alt = [k for k in known if k.lower() == jname.lower()]
                    if alt:
                        jname = alt[0]
                    elif key != "meta/v1" and jname not in ("apiVersion", "kind"):
                        print("??", key, m.name, jname)
            if key == "meta/v1" and m.name == "FieldsV1":
                jname = "raw"
            parts.append(f"{jname}={f.number}:{t}")
        out.append(" ".join(parts))
# Fields and messages added after the descriptors were taken, read from the current
# staging/src/k8s.io/api/core/v1/generated.proto.
ADD = {
    "core/v1": {
        "PodSpec": ["hostnameOverride=41:string"],
        "PodStatus": ["observedGeneration=17:int64"],
        "EnvVarSource": ["fileKeyRef=5:FileKeySelector"],
        "FileKeySelector": [
            "volumeName=1:string",
            "path=2:string",
            "key=3:string",
            "optional=4:bool",
        ],
    },
}
sect = None
for i, line in enumerate(out):
    if line.startswith("["):
        sect = line[1:-1]
        continue
    name = line.split(" ")[0]
    extra = ADD.get(sect, {}).pop(name, None)
    if extra:
        out[i] = line + " " + " ".join(extra)
for sect, msgs in ADD.items():
    j = out.index(f"[{sect}]") + 1
    for name, fields in msgs.items():
        out.insert(j, " ".join([name] + fields))
HEADER = """# Kubernetes protobuf messages: one line per message, `jsonName=fieldNumber:type`.
# type: string int32 int64 bool bytes double float, or a message (`Name` in this section,
# `section.Name` in another); `[T]` repeated, `{T}` map<string, T>; `*` an embedded struct whose
# fields are inlined in JSON. Field numbers are those of k8s.io/api and k8s.io/apimachinery
# generated.proto (Kubernetes 1.32 descriptors plus the 1.36 additions noted in tools/).
"""
open("messages.txt", "w").write(HEADER + "\n".join(out) + "\n")
print(len(out), sum(len(l) for l in out))
