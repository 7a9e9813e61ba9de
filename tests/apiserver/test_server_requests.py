"""Request handling as kube-apiserver does it: content types, paths, query options, verbs.

Each test states one rule and names the Kubernetes source it follows.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from opframe.testing.apiserver import ApiServer

NS = "/api/v1/namespaces/default/configmaps"


async def _call(
    server: ApiServer,
    method: str,
    path: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
    content_type: str | None = "application/json",
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    headers = {"Authorization": f"Bearer {server.token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    data = json.dumps(body).encode() if body is not None else None
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            server.url + path,
            params=params,
            data=data,
            headers=headers,
            skip_auto_headers=("Content-Type",),
        ) as resp,
    ):
        raw = await resp.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode()
        return resp.status, parsed, resp.headers


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _causes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


# -- bodies and paths ----------------------------------------------------------------------


async def test_a_body_without_content_type_is_json(api_server_http: ApiServer) -> None:
    """endpoints/handlers/negotiation: no Content-Type means the first accepted type, JSON."""
    status, body, _ = await _call(api_server_http, "POST", NS, body=_cm("a"), content_type=None)
    assert (status, body["metadata"]["name"]) == (201, "a")


async def test_a_patch_without_content_type_is_unsupported(api_server_http: ApiServer) -> None:
    """endpoints/handlers/patch.go: the Content-Type names the patch type; none is a 415."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(
        api_server_http, "PATCH", NS + "/a", body={"data": {}}, content_type=None
    )
    assert (status, body["message"]) == (415, "415: Unsupported Media Type")


@pytest.mark.parametrize("path", ["/version/", "/api/", "/apis/", "/api/v1/"])
async def test_discovery_paths_answer_with_a_trailing_slash(
    api_server_http: ApiServer, path: str
) -> None:
    """pkg/server/routes (version, discovery): registered with and without the slash."""
    status, with_slash, _ = await _call(api_server_http, "GET", path)
    _, without, _ = await _call(api_server_http, "GET", path.rstrip("/"))
    assert (status, with_slash) == (200, without)


async def test_healthz_with_a_trailing_slash_is_not_found(api_server_http: ApiServer) -> None:
    """pkg/server/healthz: only the exact path is installed."""
    status, body, _ = await _call(api_server_http, "GET", "/healthz/")
    assert (status, body) == (404, "404 page not found\n")


async def test_unknown_query_parameters_are_ignored(api_server_http: ApiServer) -> None:
    """runtime/parameter codec: parameters no options field names are not decoded."""
    status, _, _ = await _call(api_server_http, "POST", NS, body=_cm("a"), params={"foo": "x"})
    assert status == 201
    status, body, _ = await _call(api_server_http, "GET", NS, params={"foo": "x", "bar": "1"})
    assert (status, [i["metadata"]["name"] for i in body["items"]]) == (200, ["a"])


async def test_a_negative_limit_means_no_limit(api_server_http: ApiServer) -> None:
    """storage.SelectionPredicate: a limit below one does not page."""
    for name in ("a", "b"):
        await _call(api_server_http, "POST", NS, body=_cm(name))
    _, body, _ = await _call(api_server_http, "GET", NS, params={"limit": "-5"})
    assert len(body["items"]) == 2 and "continue" not in body["metadata"]


async def test_a_limit_that_is_not_a_number_is_a_bad_request(api_server_http: ApiServer) -> None:
    """runtime/conversion.go Convert_Slice_string_To_int64: strconv.ParseInt's error, 400."""
    status, body, _ = await _call(api_server_http, "GET", NS, params={"limit": "ten"})
    assert (status, body["message"]) == (400, 'strconv.ParseInt: parsing "ten": invalid syntax')


async def test_api_version_of_another_group_is_refused(api_server_http: ApiServer) -> None:
    """endpoints/handlers/create.go transformDecodeError: the body's kind cannot be converted."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    status, body, _ = await _call(api_server_http, "POST", NS, body=secret)
    assert status == 400
    assert body["message"].startswith('Secret in version "v1" cannot be handled as a ConfigMap')


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", NS),
        ("PATCH", NS),
        ("POST", NS + "/a"),
        ("DELETE", "/api/v1/namespaces/default/pods/a/status"),
    ],
)
async def test_a_method_the_path_does_not_take_is_405(
    api_server_http: ApiServer, method: str, path: str
) -> None:
    """endpoints/installer.go: only the verbs of a path are routed; go-restful answers 405."""
    status, body, _ = await _call(api_server_http, method, path, body=_cm("a"))
    assert (status, body["reason"]) == (405, "MethodNotAllowed")


async def test_deletecollection_of_namespaces_is_405(api_server_http: ApiServer) -> None:
    """registry/core/namespace/storage: namespaces have no collection delete."""
    status, _, _ = await _call(api_server_http, "DELETE", "/api/v1/namespaces")
    assert status == 405


# -- write options -------------------------------------------------------------------------


async def test_an_unknown_field_validation_is_invalid(api_server_http: ApiServer) -> None:
    """apis/meta/v1/validation ValidateCreateOptions: fieldValidation is one of four values."""
    status, body, _ = await _call(
        api_server_http, "POST", NS, body=_cm("a"), params={"fieldValidation": "Loose"}
    )
    assert (status, body["details"]["kind"]) == (422, "CreateOptions")
    assert _causes(body) == [
        (
            "fieldValidation",
            'Unsupported value: "Loose": supported values: "", "Ignore", "Strict", "Warn"',
        )
    ]


async def test_a_field_manager_over_128_bytes_is_invalid(api_server_http: ApiServer) -> None:
    """apis/meta/v1/validation ValidateFieldManager: at most 128 bytes."""
    status, body, _ = await _call(
        api_server_http, "POST", NS, body=_cm("a"), params={"fieldManager": "m" * 129}
    )
    assert status == 422
    assert _causes(body) == [("fieldManager", "Too long: may not be more than 128 bytes")]


async def test_a_field_manager_with_a_control_character_is_invalid(
    api_server_http: ApiServer,
) -> None:
    """apis/meta/v1/validation ValidateFieldManager: printable characters only."""
    status, body, _ = await _call(
        api_server_http, "POST", NS, body=_cm("a"), params={"fieldManager": "a\tb"}
    )
    assert status == 422
    assert _causes(body) == [
        ("fieldManager", 'Invalid value: "a\\tb": invalid character U+0009 (at position 1)')
    ]


async def test_force_is_only_for_apply_patches(api_server_http: ApiServer) -> None:
    """apis/meta/v1/validation ValidatePatchOptions: force may not be set on other patches."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(
        api_server_http,
        "PATCH",
        NS + "/a",
        body={"data": {"k": "v"}},
        params={"force": "true"},
        content_type="application/merge-patch+json",
    )
    assert (status, body["details"]["kind"]) == (422, "PatchOptions")
    assert _causes(body) == [("force", "Forbidden: may not be specified for non-apply patch")]


# -- delete options ------------------------------------------------------------------------


async def test_an_unknown_propagation_policy_is_invalid(api_server_http: ApiServer) -> None:
    """apis/meta/v1/validation ValidateDeleteOptions: Foreground, Background or Orphan."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(
        api_server_http, "DELETE", NS + "/a", params={"propagationPolicy": "Later"}
    )
    assert (status, body["details"]["kind"]) == (422, "DeleteOptions")
    assert _causes(body) == [
        (
            "propagationPolicy",
            'Unsupported value: "Later": supported values: "Foreground", "Background", '
            '"Orphan", "nil"',
        )
    ]


async def test_orphan_dependents_and_propagation_policy_together_are_invalid(
    api_server_http: ApiServer,
) -> None:
    """apis/meta/v1/validation ValidateDeleteOptions: not both."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(
        api_server_http,
        "DELETE",
        NS + "/a",
        body={"orphanDependents": True, "propagationPolicy": "Orphan"},
    )
    assert status == 422
    assert _causes(body)[0][0] == "propagationPolicy"
    assert "cannot be both set" in _causes(body)[0][1]


async def test_a_uid_precondition_that_differs_is_a_conflict(api_server_http: ApiServer) -> None:
    """registry/generic/registry/store.go: preconditions are checked against the stored object."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(
        api_server_http, "DELETE", NS + "/a", body={"preconditions": {"uid": "other"}}
    )
    assert (status, body["reason"]) == (409, "Conflict")
    assert "Precondition failed: UID in precondition: other" in body["message"]


async def test_an_unknown_dry_run_value_on_delete_is_invalid(api_server_http: ApiServer) -> None:
    """apis/meta/v1/validation ValidateDryRun: only All."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(api_server_http, "DELETE", NS + "/a", params={"dryRun": "Yes"})
    assert (status, _causes(body)) == (
        422,
        [("dryRun", 'Unsupported value: ["Yes"]: supported values: "All"')],
    )


async def test_a_grace_period_that_is_not_a_number_is_a_bad_request(
    api_server_http: ApiServer,
) -> None:
    """runtime/conversion.go: gracePeriodSeconds is an int64 parameter."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    status, body, _ = await _call(
        api_server_http, "DELETE", NS + "/a", params={"gracePeriodSeconds": "soon"}
    )
    assert (status, body["reason"]) == (400, "BadRequest")


# -- list options and resourceVersions -----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"resourceVersionMatch": "NotOlderThan"},
            "resourceVersionMatch",
            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resourceVersion": "1", "resourceVersionMatch": "Newest"},
            "resourceVersionMatch",
            'Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""',
        ),
        (
            {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
            "resourceVersionMatch",
            'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
        (
            {"sendInitialEvents": "true"},
            "sendInitialEvents",
            "Forbidden: sendInitialEvents is forbidden for list",
        ),
    ],
)
async def test_list_option_combinations_are_validated(
    api_server_http: ApiServer, params: dict[str, str], field: str, message: str
) -> None:
    """apis/meta/internalversion/validation ValidateListOptions: 422 on ListOptions."""
    status, body, _ = await _call(api_server_http, "GET", NS, params=params)
    assert (status, body["details"]["kind"]) == (422, "ListOptions")
    assert (field, message) in _causes(body)


async def test_a_watch_with_resource_version_match_needs_initial_events(
    api_server_http: ApiServer,
) -> None:
    """apis/meta/internalversion/validation validateWatchOptions."""
    status, body, _ = await _call(
        api_server_http,
        "GET",
        NS,
        params={"watch": "1", "resourceVersion": "1", "resourceVersionMatch": "NotOlderThan"},
    )
    assert status == 422
    assert (
        "resourceVersionMatch",
        "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
        "provided",
    ) in _causes(body)


@pytest.mark.parametrize("verb", ["list", "get", "watch"])
async def test_an_unparsable_resource_version_is_the_real_servers_500(
    api_server_http: ApiServer, verb: str
) -> None:
    """storage/etcd3/api_object_versioner.go ParseResourceVersion: not converted to a 400."""
    await _call(api_server_http, "POST", NS, body=_cm("a"))
    path = NS + "/a" if verb == "get" else NS
    params = {"resourceVersion": "abc"} | ({"watch": "true"} if verb == "watch" else {})
    status, body, _ = await _call(api_server_http, "GET", path, params=params)
    assert status == 500 and "reason" not in body
    assert body["message"] == (
        'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax'
    )


@pytest.mark.timeout(30)
async def test_a_list_at_a_future_resource_version_times_out_with_504(
    api_server_http: ApiServer,
) -> None:
    """storage/errors.go NewTooLargeResourceVersionError, after the cacher waited 3 s."""
    future = str(api_server_http.store.rv + 1000)
    status, body, headers = await _call(
        api_server_http, "GET", NS, params={"resourceVersion": future}
    )
    assert (status, body["reason"], headers["Retry-After"]) == (504, "Timeout", "1")
    assert body["message"] == (
        f"Timeout: Too large resource version: {future}, current: {api_server_http.store.rv}"
    )
    assert body["details"] == {
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    }


async def test_an_exact_list_shows_the_state_at_that_resource_version(
    api_server_http: ApiServer,
) -> None:
    """storage/cacher/delegator.go: Exact reads go to storage, which keeps the revisions."""
    await _call(api_server_http, "POST", NS, body=_cm("a", v="1"))
    _, listed, _ = await _call(api_server_http, "GET", NS)
    then = listed["metadata"]["resourceVersion"]
    await _call(api_server_http, "PUT", NS + "/a", body=_cm("a", v="2"))
    await _call(api_server_http, "POST", NS, body=_cm("b"))
    status, body, _ = await _call(
        api_server_http,
        "GET",
        NS,
        params={"resourceVersion": then, "resourceVersionMatch": "Exact"},
    )
    assert status == 200
    assert body["metadata"]["resourceVersion"] == then
    assert [(i["metadata"]["name"], i["data"]) for i in body["items"]] == [("a", {"v": "1"})]


async def test_an_exact_list_older_than_the_history_is_expired() -> None:
    """storage/etcd3/store.go: a compacted revision is 410 'too old' for a list."""
    async with ApiServer(tls=False, watch_history=2) as server:
        await _call(server, "POST", NS, body=_cm("a"))
        then = str(server.store.rv)
        for i in range(4):
            await _call(server, "PUT", NS + "/a", body=_cm("a", v=str(i)))
        status, body, _ = await _call(
            server, "GET", NS, params={"resourceVersion": then, "resourceVersionMatch": "Exact"}
        )
    assert (status, body["reason"]) == (410, "Expired")
    assert body["message"] == "The resourceVersion for the provided list is too old."


async def test_a_version_no_kind_is_registered_at_is_a_bad_request(
    api_server_http: ApiServer,
) -> None:
    """runtime/scheme.go: decoding needs the kind registered at the body's group version."""
    body = {**_cm("a"), "apiVersion": "apps/v1"}
    status, answer, _ = await _call(api_server_http, "POST", NS, body=body)
    assert status == 400
    assert answer["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: no kind "ConfigMap" is '
        'registered for version "apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"'
    )


async def test_an_event_of_the_other_events_api_is_not_this_endpoints(
    api_server_http: ApiServer,
) -> None:
    """endpoints/handlers/create.go: the decoded group version must be the endpoint's."""
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}}
    status, answer, _ = await _call(
        api_server_http, "POST", "/api/v1/namespaces/default/events", body=event
    )
    assert (status, answer["message"]) == (
        400,
        "the API version in the data (events.k8s.io/v1) does not match the expected API "
        "version (v1)",
    )


async def test_a_continue_token_past_the_history_is_expired_with_a_new_token() -> None:
    """storage/etcd3/store.go handleCompactedErrorForPaging: 410 and a token to go on with."""
    async with ApiServer(tls=False, watch_history=2) as server:
        for name in ("a", "b", "c"):
            await _call(server, "POST", NS, body=_cm(name))
        _, first, _ = await _call(server, "GET", NS, params={"limit": "1"})
        for i in range(4):
            await _call(server, "PUT", NS + "/b", body=_cm("b", v=str(i)))
        token = first["metadata"]["continue"]
        status, body, _ = await _call(server, "GET", NS, params={"limit": "1", "continue": token})
        assert (status, body["reason"]) == (410, "Expired")
        assert body["message"].startswith("The provided continue parameter is too old")
        again = {"limit": "5", "continue": body["metadata"]["continue"]}
        status, rest, _ = await _call(server, "GET", NS, params=again)
    assert status == 200
    assert [(i["metadata"]["name"], i["data"]) for i in rest["items"]] == [
        ("b", {"v": "3"}),
        ("c", {}),
    ]
