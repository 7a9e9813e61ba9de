"""Protobuf, as kube-apiserver speaks it to kubectl and typed Go clients.

The wire format is k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go (the
``k8s\\x00`` prefix, then ``runtime.Unknown``), the field numbers those of the generated.proto
files of k8s.io/api and k8s.io/apimachinery, content negotiation
k8s.io/apiserver/pkg/endpoints/handlers/negotiation/negotiate.go, and the watch stream
k8s.io/apiserver/pkg/endpoints/handlers/watch.go (length-delimited frames of bare WatchEvents
whose object is enveloped).
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from opframe.testing.apiserver import ApiServer, protobuf
from opframe.testing.apiserver.builtins.kinds import BUILTIN_TYPES
from opframe.testing.apiserver.protobuf import wire
from opframe.testing.apiserver.protobuf.codec import duration_text
from opframe.testing.apiserver.protobuf.descriptors import message, message_for

SAMPLES = [
    d
    for d in yaml.safe_load_all((Path(__file__).parent / "protobuf_samples.yaml").read_text())
    if d
]
PB = protobuf.MEDIA_TYPE


def _sample_id(doc: dict[str, Any]) -> str:
    return f"{doc['apiVersion']}/{doc['kind']}/{doc.get('metadata', {}).get('name', '')}"


# -- the codec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", SAMPLES, ids=_sample_id)
def test_every_kind_round_trips_json_protobuf_json(doc: dict[str, Any]) -> None:
    """A filled object of each kind survives JSON -> protobuf -> JSON unchanged (strict: every
    JSON field has a protobuf field)."""
    assert protobuf.decode_object(protobuf.encode_object(doc, strict=True)) == doc


@pytest.mark.parametrize("rt", BUILTIN_TYPES, ids=lambda rt: f"{rt.api_version}/{rt.kind}")
def test_every_served_builtin_kind_and_its_list_have_a_message(rt: Any) -> None:
    assert message_for(rt.api_version, rt.kind) is not None
    if "list" in rt.verbs:  # the review APIs are create-only: no list kind
        assert message_for(rt.api_version, rt.list_kind or rt.kind + "List") is not None


def test_every_served_builtin_kind_has_a_round_trip_sample() -> None:
    sampled = {(d["apiVersion"], d["kind"]) for d in SAMPLES}
    missing = {(rt.api_version, rt.kind) for rt in BUILTIN_TYPES} - sampled
    assert not missing


def test_a_namespace_encodes_to_the_bytes_derived_from_the_proto() -> None:
    """Derived by hand: Namespace{metadata=1: ObjectMeta{name=1: "x"}} inside
    Unknown{typeMeta=1{apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}."""
    object_meta = b"\x0a\x01x"  # field 1, wire type 2, length 1, "x"
    namespace = b"\x0a\x03" + object_meta
    type_meta = b"\x0a\x02v1" + b"\x12\x09Namespace"
    unknown = b"\x0a\x0f" + type_meta + b"\x12\x05" + namespace + b"\x1a\x00" + b"\x22\x00"
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    assert protobuf.encode_object(obj) == b"k8s\x00" + unknown


def test_a_configmap_map_field_is_sorted_entries_of_key_1_value_2() -> None:
    """map<string,string> is repeated {key=1, value=2} entries, written in key order."""
    msg = message("core/v1.ConfigMap")
    raw = protobuf.codec.encode_message(msg, {"data": {"b": "2", "a": "1"}})
    assert raw == b"\x12\x06\x0a\x01a\x12\x011" + b"\x12\x06\x0a\x01b\x12\x012"


def test_secret_data_is_bytes_on_the_wire_and_base64_in_json() -> None:
    msg = message("core/v1.Secret")
    raw = protobuf.codec.encode_message(
        msg, {"data": {"k": base64.b64encode(b"\x00\xff").decode()}}
    )
    assert raw == b"\x12\x07\x0a\x01k\x12\x02\x00\xff"


def test_int_or_string_writes_type_intval_and_strval() -> None:
    """intstr.IntOrString{type=1, intVal=2, strVal=3}: Go writes all three."""
    msg = message("apps/v1.RollingUpdateDeployment")
    raw = protobuf.codec.encode_message(msg, {"maxSurge": "25%", "maxUnavailable": 0})
    assert raw == b"\x0a\x06\x08\x00\x10\x00\x1a\x00" + b"\x12\x09\x08\x01\x10\x00\x1a\x0325%"
    assert protobuf.codec.decode_message(msg, raw) == {"maxUnavailable": 0, "maxSurge": "25%"}


def test_time_is_timestamp_seconds_and_micro_time_keeps_microseconds() -> None:
    lease = {"holderIdentity": "a", "renewTime": "2026-01-02T03:04:05.000042Z"}
    msg = message("coordination/v1.LeaseSpec")
    raw = protobuf.codec.encode_message(msg, lease)
    assert protobuf.codec.decode_message(msg, raw) == lease
    meta = message("meta/v1.ObjectMeta")
    raw = protobuf.codec.encode_message(meta, {"creationTimestamp": "1970-01-01T00:01:40Z"})
    assert raw == b"\x42\x02\x08\x64"  # field 8 {seconds=1: 100}


def test_a_zero_time_decodes_as_null_as_go_writes_it_in_json() -> None:
    """Go writes a zero non-pointer Time as an empty message; its JSON is null."""
    meta = message("meta/v1.ObjectMeta")
    assert protobuf.codec.decode_message(meta, b"\x0a\x01x\x42\x00") == {
        "name": "x",
        "creationTimestamp": None,
    }


def test_zero_scalars_are_dropped_unless_the_go_field_is_a_pointer() -> None:
    """Go writes every non-pointer field; omitempty drops zeros in JSON, pointers keep them."""
    spec = message("apps/v1.DeploymentSpec")
    raw = wire.field_varint(1, 0) + wire.field_varint(5, 0) + wire.field_varint(7, 0)
    assert protobuf.codec.decode_message(spec, raw) == {"replicas": 0}


def test_negative_integers_are_ten_byte_varints() -> None:
    msg = message("core/v1.ContainerStateTerminated")
    raw = protobuf.codec.encode_message(msg, {"exitCode": -1})
    assert raw == b"\x08" + b"\xff" * 9 + b"\x01"
    assert protobuf.codec.decode_message(msg, raw) == {"exitCode": -1}


def test_durations_print_as_go_does() -> None:
    assert [duration_text(n) for n in (0, 1500, 90 * 10**9, 3600 * 10**9 + 5 * 10**8)] == [
        "0s",
        "1.5µs",
        "1m30s",
        "1h0m0.5s",
    ]


def test_an_unenveloped_body_is_refused_with_what_to_send() -> None:
    with pytest.raises(protobuf.ProtobufError, match="k8s"):
        protobuf.decode_object(b"\x0a\x00")


# What kubectl v1.32 sends for `kubectl create namespace x` and
# `kubectl create deployment d --image=nginx --replicas=0 --port=80` (captured from its body).
KUBECTL_NAMESPACE = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x19\n\x11\n\x01x\x12\x00\x1a\x00"\x00*\x002\x008\x00'
    b'B\x00\x12\x00\x1a\x02\n\x00\x1a\x00"\x00'
)
KUBECTL_DEPLOYMENT = base64.b64decode(
    "azhzAAoVCgdhcHBzL3YxEgpEZXBsb3ltZW50ErABChsKAWQSABoAIgAqADIAOABCAFoICgNhcHASAWQSggEIABIK"
    "CggKA2FwcBIBZBpqChoKABIAGgAiACoAMgA4AEIAWggKA2FwcBIBZBJMEi4KBW5naW54EgVuZ2lueCoAMgoKABAAGF"
    "AiACoAQgBqAHIAgAEAiAEAkAEAogEAGgAyAEIASgBSAFgAYABoAIIBAIoBAJoBAMIBACICCgAoADgAGgwIABAAGAAg"
    "ACgAOAAaACIA"
)


def test_decodes_what_kubectl_sends_for_create_namespace() -> None:
    assert protobuf.decode_object(KUBECTL_NAMESPACE) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "x", "creationTimestamp": None},
        "spec": {},
        "status": {},
    }


def test_decodes_what_kubectl_sends_for_create_deployment() -> None:
    obj = protobuf.decode_object(KUBECTL_DEPLOYMENT)
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}}
    ]
    assert obj["metadata"] == {"name": "d", "creationTimestamp": None, "labels": {"app": "d"}}


# -- the server ----------------------------------------------------------------------------------


async def _call(
    server: ApiServer,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {server.token}", "Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.url + path, data=body, headers=headers) as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def _pb(obj: dict[str, Any]) -> bytes:
    return protobuf.encode_object(obj)


async def test_create_accepts_a_protobuf_body(api_server_http: ApiServer) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    status, _, _ = await _call(
        api_server_http, "POST", "/api/v1/namespaces/default/configmaps", _pb(cm), PB
    )
    assert status == 201
    _, _, raw = await _call(api_server_http, "GET", "/api/v1/namespaces/default/configmaps/c")
    assert yaml.safe_load(raw)["data"] == {"a": "1"}


async def test_update_accepts_a_protobuf_body(api_server_http: ApiServer) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"}, "data": {"a": "1"}}
    await _call(api_server_http, "POST", path, _pb(cm), PB)
    cm["data"] = {"a": "2"}
    status, ctype, raw = await _call(api_server_http, "PUT", path + "/u", _pb(cm), PB, accept=PB)
    assert (status, ctype) == (200, PB)
    assert protobuf.decode_object(raw)["data"] == {"a": "2"}


async def test_a_protobuf_only_accept_gets_protobuf(api_server_http: ApiServer) -> None:
    status, ctype, raw = await _call(
        api_server_http, "GET", "/api/v1/namespaces/default", accept=PB
    )
    assert (status, ctype) == (200, PB)
    assert protobuf.decode_object(raw)["metadata"]["name"] == "default"


async def test_protobuf_listed_first_wins_over_json(api_server_http: ApiServer) -> None:
    """negotiate.go: the first Accept clause the endpoint serves wins (client-go's typed
    clients send ``application/vnd.kubernetes.protobuf, application/json``)."""
    _, ctype, _ = await _call(
        api_server_http, "GET", "/api/v1/namespaces", accept=f"{PB}, application/json"
    )
    assert ctype == PB
    _, ctype, _ = await _call(
        api_server_http, "GET", "/api/v1/namespaces", accept=f"application/json, {PB}"
    )
    assert ctype == "application/json"


async def test_a_lower_q_protobuf_loses_to_json(api_server_http: ApiServer) -> None:
    _, ctype, _ = await _call(
        api_server_http, "GET", "/api/v1/namespaces", accept=f"{PB};q=0.5, application/json"
    )
    assert ctype == "application/json"


async def test_a_list_is_encoded_as_the_list_message(api_server_http: ApiServer) -> None:
    _, ctype, raw = await _call(api_server_http, "GET", "/api/v1/namespaces", accept=PB)
    listed = protobuf.decode_object(raw)
    assert (ctype, listed["kind"]) == (PB, "NamespaceList")
    assert "default" in {item["metadata"]["name"] for item in listed["items"]}


async def test_errors_are_protobuf_status_objects(api_server_http: ApiServer) -> None:
    status, ctype, raw = await _call(
        api_server_http, "GET", "/api/v1/namespaces/default/configmaps/none", accept=PB
    )
    body = protobuf.decode_object(raw)
    assert (status, ctype, body["kind"], body["reason"], body["code"]) == (
        404,
        PB,
        "Status",
        "NotFound",
        404,
    )


async def test_custom_resources_are_answered_in_json_even_to_protobuf_clients(
    api_server_http: ApiServer,
) -> None:
    """Custom resources have no protobuf serializer (apiextensions-apiserver
    customresource_handler.go): JSON when the client also accepts it, else 406."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.pb.example.com"},
        "spec": {
            "group": "pb.example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    status, _, _ = await _call(
        api_server_http,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        yaml.safe_dump(crd).encode(),
        "application/yaml",
    )
    assert status == 201
    path = "/apis/pb.example.com/v1/namespaces/default/gadgets"
    _, ctype, _ = await _call(api_server_http, "GET", path, accept=f"{PB}, application/json")
    assert ctype == "application/json"
    status, ctype, raw = await _call(api_server_http, "GET", path, accept=PB)
    assert (status, ctype) == (406, "application/json")
    assert yaml.safe_load(raw)["message"].endswith(
        "Available representations: application/json, application/yaml, "
        "application/json;stream=watch"
    )


async def test_the_415_lists_only_the_accepted_media_types(api_server_http: ApiServer) -> None:
    status, _, raw = await _call(
        api_server_http, "POST", "/api/v1/namespaces/default/configmaps", b"x", "text/plain"
    )
    message_text = yaml.safe_load(raw)["message"]
    assert status == 415
    assert message_text.endswith(
        "accepted media types include: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf"
    )


async def test_a_watch_streams_length_prefixed_protobuf_frames(api_server_http: ApiServer) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}}
    await _call(api_server_http, "POST", "/api/v1/namespaces/default/configmaps", _pb(cm), PB)
    status, ctype, raw = await _call(
        api_server_http,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0&timeoutSeconds=1",
        accept=PB,
    )
    assert (status, ctype) == (200, protobuf.WATCH_MEDIA_TYPE)
    (size,) = struct.unpack(">I", raw[:4])
    assert size == len(raw) - 4  # one event, one frame
    events = protobuf.decode_watch_events(raw)
    assert [(t, o["kind"], o["metadata"]["name"]) for t, o in events] == [
        ("ADDED", "ConfigMap", "w")
    ]


# Stored kinds only: the review APIs answer a create and keep nothing to read back.
_SERVED = {(rt.api_version, rt.kind) for rt in BUILTIN_TYPES if "get" in rt.verbs}
SERVED_SAMPLES = [d for d in SAMPLES if (d["apiVersion"], d["kind"]) in _SERVED]


@pytest.mark.parametrize("doc", SERVED_SAMPLES, ids=_sample_id)
async def test_stored_objects_read_as_protobuf_equal_their_json(
    api_server_http: ApiServer, doc: dict[str, Any]
) -> None:
    """What the server stores (defaults, managedFields, timestamps) survives protobuf."""
    rt = next(
        t for t in BUILTIN_TYPES if (t.api_version, t.kind) == (doc["apiVersion"], doc["kind"])
    )
    base = "/api/v1" if not rt.group else f"/apis/{rt.api_version}"
    collection = (
        f"{base}/namespaces/default/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    )
    body = {k: v for k, v in doc.items() if k != "status"}
    if doc["kind"] == "Pod":  # admission needs the pod's ServiceAccount
        sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        await _call(
            api_server_http, "POST", "/api/v1/namespaces/default/serviceaccounts", _pb(sa), PB
        )
    status, _, raw = await _call(
        api_server_http, "POST", collection, yaml.safe_dump(body).encode(), "application/yaml"
    )
    assert status == 201, raw
    path = f"{collection}/{doc['metadata']['name']}"
    _, _, as_json = await _call(api_server_http, "GET", path)
    _, ctype, as_pb = await _call(api_server_http, "GET", path, accept=PB)
    assert ctype == PB
    assert protobuf.decode_object(as_pb) == _without_nested_type_meta(yaml.safe_load(as_json))


def _without_nested_type_meta(obj: Any, top: bool = True) -> Any:
    """Embedded objects (volumeClaimTemplates) lose apiVersion/kind in protobuf: go-to-protobuf
    does not serialize TypeMeta, so a Go client reading protobuf sees none either."""
    if isinstance(obj, list):
        return [_without_nested_type_meta(v, False) for v in obj]
    if not isinstance(obj, dict):
        return obj
    return {
        k: _without_nested_type_meta(v, False)
        for k, v in obj.items()
        if top or k not in ("apiVersion", "kind") or not isinstance(obj.get("metadata"), dict)
    }


async def test_an_eviction_can_be_posted_as_protobuf(api_server_http: ApiServer) -> None:
    """kubectl drain posts policy/v1 Evictions with its typed (protobuf) client."""
    ns = "/api/v1/namespaces/default"
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
    await _call(api_server_http, "POST", f"{ns}/serviceaccounts", _pb(sa), PB)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "evicted"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    status, _, _ = await _call(api_server_http, "POST", f"{ns}/pods", _pb(pod), PB)
    assert status == 201
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "evicted", "namespace": "default"},
    }
    status, ctype, raw = await _call(
        api_server_http, "POST", f"{ns}/pods/evicted/eviction", _pb(eviction), PB, accept=PB
    )
    assert (status, ctype) == (201, PB)
    assert protobuf.decode_object(raw)["status"] == "Success"


async def test_a_delete_accepts_protobuf_delete_options(api_server_http: ApiServer) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone"}}
    await _call(api_server_http, "POST", path, _pb(cm), PB)
    options = {"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "dryRun": ["All"]}
    status, _, _ = await _call(api_server_http, "DELETE", f"{path}/gone", _pb(options), PB)
    assert status == 200
    status, _, _ = await _call(api_server_http, "GET", f"{path}/gone")
    assert status == 200  # dryRun from the protobuf body was honoured


def test_an_object_protobuf_cannot_hold_is_answered_in_json() -> None:
    """A value no Go field could hold (a string replica count) falls back to JSON, not 500."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("GET", "/apis/apps/v1/deployments", headers={"Accept": PB})
    body = b'{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"two"}}'
    resp = web.Response(body=body, content_type="application/json")
    assert protobuf.respond(request, resp).content_type == "application/json"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PB, True),
        (f"{PB}, application/json", True),
        (f"application/json, {PB}", False),
        (f"{PB};q=0.5, application/json", False),
        (f"application/json;q=0.5, {PB}", True),
        ("*/*", False),
        (f"{PB};as=Table;v=v1;g=meta.k8s.io, application/json", False),
        (f"application/yaml, {PB}", False),
        ("", False),
    ],
)
def test_negotiation_picks_the_first_served_clause(accept: str, expected: bool) -> None:
    """negotiate.go: clauses by q, then order; the first the endpoint serves wins; wildcards
    mean the server's first type (JSON); a conversion (as=Table) is not served as protobuf."""
    assert protobuf.prefers_protobuf(accept) is expected


def test_a_map_entry_without_a_value_holds_the_zero_value() -> None:
    """Go omits a zero map value's field from the entry; it decodes as the type's zero."""
    limits = wire.field_bytes(1, wire.field_bytes(1, b"cpu"))
    assert protobuf.codec.decode_message(message("core/v1.ResourceRequirements"), limits) == {
        "limits": {"cpu": "0"}
    }
    data = wire.field_bytes(2, wire.field_bytes(1, b"k"))
    assert protobuf.codec.decode_message(message("core/v1.ConfigMap"), data) == {"data": {"k": ""}}
