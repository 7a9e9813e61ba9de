"""A tiny HTTP client for the auth tests: one request, any credential."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from opframe.testing.apiserver import ApiServer


async def call(
    server: ApiServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "admin",
    headers: dict[str, str] | None = None,
    cert: tuple[Path, Path] | None = None,
) -> tuple[int, Any]:
    """``(status, parsed body)``; ``token="admin"`` is the server's own, ``None`` none."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if token == "admin":
        token = server.token
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    ctx: ssl.SSLContext | bool = False
    if server.ca_file:
        ctx = ssl.create_default_context(cafile=str(server.ca_file))
        if cert:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    data = json.dumps(body).encode() if body is not None else None
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.url + path, data=data, headers=h, ssl=ctx) as resp,
    ):
        raw = await resp.read()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw.decode()


async def create_sa(server: ApiServer, namespace: str, name: str) -> dict[str, Any]:
    """Create a namespace (if needed) and a ServiceAccount in it."""
    await call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    status, sa = await call(
        server, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"metadata": {"name": name}},
    )  # fmt: skip
    assert status == 201, sa
    return dict(sa)


async def sa_token(server: ApiServer, namespace: str, name: str, **spec: Any) -> str:
    """A TokenRequest token for ServiceAccount ``namespace/name``."""
    status, out = await call(
        server, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )  # fmt: skip
    assert status == 201, out
    return str(out["status"]["token"])


async def whoami(server: ApiServer, **kw: Any) -> tuple[int, Any]:
    """POST a SelfSubjectReview with the given credential."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    return await call(server, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                      body, **kw)  # fmt: skip


async def grant(
    server: ApiServer,
    namespace: str | None,
    name: str,
    rules: list[dict[str, Any]],
    subject: dict[str, Any],
) -> None:
    """A Role with ``rules`` bound to ``subject`` in ``namespace`` (as the admin); with
    ``namespace`` None a ClusterRole and a ClusterRoleBinding."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    base, kind = (f"{rbac}/namespaces/{namespace}", "Role") if namespace else (rbac, "ClusterRole")
    plural = kind.lower() + "s"
    status, out = await call(
        server, "POST", f"{base}/{plural}", {"metadata": {"name": name}, "rules": rules}
    )
    assert status == 201, out
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [subject],
    }
    status, out = await call(server, "POST", f"{base}/{kind.lower()}bindings", binding)
    assert status == 201, out


def user(name: str) -> dict[str, Any]:
    """A User subject."""
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}
