"""kubectl's auth commands against the embedded server: can-i, can-i --list, whoami,
create token (the same API calls kubectl makes to a real cluster)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _kubectl import KUBECTL, kubectl

from opframe.testing.apiserver import ApiServer
from tests.auth._http import call, create_sa, grant

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH"),
]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with ApiServer(state_dir=tmp_path / "apiserver", persist=False) as api:
        yield api


async def _builder(server: ApiServer) -> None:
    await create_sa(server, "kauth", "builder")
    await grant(
        server,
        "kauth",
        "builder",
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        {"kind": "ServiceAccount", "name": "builder", "namespace": "kauth"},
    )


async def test_can_i_as_admin(server: ApiServer) -> None:
    code, out, _ = await kubectl(server, "auth", "can-i", "delete", "deployments", "-n", "x")
    assert (code, out.strip()) == (0, "yes")


async def test_can_i_as_a_service_account(server: ApiServer) -> None:
    await _builder(server)
    sa = "--as=system:serviceaccount:kauth:builder"
    yes = await kubectl(server, "auth", "can-i", "list", "configmaps", "-n", "kauth", sa)
    no = await kubectl(server, "auth", "can-i", "delete", "configmaps", "-n", "kauth", sa)
    assert (yes[0], yes[1].strip()) == (0, "yes")
    assert (no[0], no[1].strip()) == (1, "no")


async def test_can_i_list_as_a_service_account(server: ApiServer) -> None:
    await _builder(server)
    code, out, err = await kubectl(
        server, "auth", "can-i", "--list", "-n", "kauth", "--as=system:serviceaccount:kauth:builder"
    )
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert ["configmaps", "[]", "[]", "[get", "list]"] in lines
    assert any(
        line and line[0] == "selfsubjectaccessreviews.authorization.k8s.io" for line in lines
    )


async def test_whoami(server: ApiServer) -> None:
    code, out, err = await kubectl(server, "auth", "whoami", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["status"]["userInfo"]["groups"] == [
        "system:masters",
        "system:authenticated",
    ]


async def test_create_token_authenticates_as_the_service_account(server: ApiServer) -> None:
    await _builder(server)
    code, out, err = await kubectl(
        server, "create", "token", "builder", "-n", "kauth", "--duration=20m"
    )
    assert code == 0, err
    status, who = await call(
        server,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        token=out.strip(),
    )
    assert status == 201
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:kauth:builder"


async def test_forbidden_message_reaches_kubectl(server: ApiServer) -> None:
    await _builder(server)
    code, _, err = await kubectl(
        server,
        "delete",
        "configmap",
        "x",
        "-n",
        "kauth",
        "--as=system:serviceaccount:kauth:builder",
    )
    assert code == 1
    assert (
        'configmaps "x" is forbidden: User "system:serviceaccount:kauth:builder" cannot '
        'delete resource "configmaps" in API group "" in the namespace "kauth"'
    ) in err
