"""Authentication: static token, ServiceAccount tokens, client certificates, anonymous.

Rules from staging/src/k8s.io/apiserver/pkg/authentication (union of authenticators, the
system:authenticated group added), pkg/serviceaccount/jwt.go and claims.go (bound tokens:
audience, expiry, the ServiceAccount and bound pod must still exist),
pkg/registry/core/serviceaccount/storage/token.go (TokenRequest) and
pkg/controller/serviceaccount/tokens_controller.go (legacy Secret tokens).
"""

from __future__ import annotations

import base64
from pathlib import Path

from opframe.testing.apiserver import ApiServer
from tests.auth._http import call, create_sa, sa_token, whoami


async def test_admin_token_is_in_system_masters(api_server_http: ApiServer) -> None:
    status, out = await whoami(api_server_http)
    assert status == 201
    assert out["status"]["userInfo"]["groups"] == ["system:masters", "system:authenticated"]


async def test_unknown_bearer_token_is_401(api_server_http: ApiServer) -> None:
    status, out = await call(api_server_http, "GET", "/api/v1/namespaces", token="nope")
    assert (status, out["reason"]) == (401, "Unauthorized")


async def test_anonymous_request_is_forbidden_by_rbac(api_server_http: ApiServer) -> None:
    status, out = await call(api_server_http, "GET", "/api/v1/namespaces", token=None)
    assert status == 403
    assert out["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )


async def test_anonymous_may_read_public_info(api_server_http: ApiServer) -> None:
    """system:public-info-viewer is bound to system:unauthenticated (bootstrappolicy)."""
    for path in ("/version", "/healthz", "/livez", "/readyz"):
        status, _ = await call(api_server_http, "GET", path, token=None)
        assert status == 200, path


async def test_anonymous_may_not_read_discovery(api_server_http: ApiServer) -> None:
    """system:discovery is for system:authenticated only."""
    status, out = await call(api_server_http, "GET", "/apis", token=None)
    assert status == 403
    assert out["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'


async def test_token_request_token_authenticates_as_the_service_account(
    api_server_http: ApiServer,
) -> None:
    sa = await create_sa(api_server_http, "authn-sa", "robot")
    token = await sa_token(api_server_http, "authn-sa", "robot")
    status, out = await whoami(api_server_http, token=token)
    assert status == 201
    info = out["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:authn-sa:robot"
    assert info["uid"] == sa["metadata"]["uid"]
    assert info["groups"] == [
        "system:serviceaccounts", "system:serviceaccounts:authn-sa", "system:authenticated",
    ]  # fmt: skip


async def test_token_for_another_audience_is_401(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "authn-aud", "robot")
    token = await sa_token(api_server_http, "authn-aud", "robot", audiences=["vault"])
    status, _ = await whoami(api_server_http, token=token)
    assert status == 401


async def test_token_of_a_deleted_service_account_is_401(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "authn-del", "robot")
    token = await sa_token(api_server_http, "authn-del", "robot")
    await call(api_server_http, "DELETE", "/api/v1/namespaces/authn-del/serviceaccounts/robot")
    status, _ = await whoami(api_server_http, token=token)
    assert status == 401


async def test_token_bound_to_a_pod_dies_with_the_pod(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "authn-pod", "robot")
    pod = {
        "metadata": {"name": "p"},
        "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "x"}]},
    }
    status, created = await call(api_server_http, "POST", "/api/v1/namespaces/authn-pod/pods", pod)
    assert status == 201, created
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": created["metadata"]["uid"]}
    token = await sa_token(api_server_http, "authn-pod", "robot", boundObjectRef=ref)
    status, out = await whoami(api_server_http, token=token)
    assert status == 201
    assert out["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
    await call(
        api_server_http, "DELETE", "/api/v1/namespaces/authn-pod/pods/p?gracePeriodSeconds=0"
    )
    status, _ = await whoami(api_server_http, token=token)
    assert status == 401


async def test_token_request_refuses_less_than_ten_minutes(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "authn-short", "robot")
    status, out = await call(
        api_server_http, "POST", "/api/v1/namespaces/authn-short/serviceaccounts/robot/token",
        {"spec": {"expirationSeconds": 599}},
    )  # fmt: skip
    assert status == 422
    assert out["details"]["causes"][0]["field"] == "spec.expirationSeconds"


async def test_token_review_names_the_user_and_audiences(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "authn-rev", "robot")
    token = await sa_token(api_server_http, "authn-rev", "robot", audiences=["a", "b"])
    status, out = await call(
        api_server_http, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
        {"spec": {"token": token, "audiences": ["b"]}},
    )  # fmt: skip
    assert status == 201
    assert out["status"]["authenticated"] is True
    assert out["status"]["audiences"] == ["b"]
    assert out["status"]["user"]["username"] == "system:serviceaccount:authn-rev:robot"


async def test_legacy_secret_token_authenticates(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "authn-legacy", "robot")
    secret = {
        "metadata": {
            "name": "robot-token",
            "annotations": {"kubernetes.io/service-account.name": "robot"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    status, out = await call(
        api_server_http, "POST", "/api/v1/namespaces/authn-legacy/secrets", secret
    )
    assert status == 201, out
    token = base64.b64decode(out["data"]["token"]).decode()
    status, who = await whoami(api_server_http, token=token)
    assert status == 201
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:authn-legacy:robot"
    await call(api_server_http, "DELETE", "/api/v1/namespaces/authn-legacy/secrets/robot-token")
    status, _ = await whoami(api_server_http, token=token)
    assert status == 401


async def test_client_certificate_names_user_and_groups(
    api_server: ApiServer, tmp_path: Path
) -> None:
    cert = api_server.auth.client_certificate("alice", ["dev", "qa"], tmp_path)
    status, out = await whoami(api_server, token=None, cert=cert)
    assert status == 201
    assert out["status"]["userInfo"] == {
        "username": "alice",
        "groups": ["dev", "qa", "system:authenticated"],
    }


async def test_tokens_survive_a_restart(tmp_path: Path) -> None:
    """The signing key is kept in the state directory."""
    async with ApiServer(tls=False, state_dir=tmp_path) as server:
        await create_sa(server, "authn-restart", "robot")
        token = await sa_token(server, "authn-restart", "robot")
        admin = server.token
    async with ApiServer(tls=False, state_dir=tmp_path, token=admin) as server:
        status, _ = await whoami(server, token=token)
        assert status == 201
