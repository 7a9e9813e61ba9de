"""What admission and conversion webhooks cost the embedded API server: creates per second
with no webhook, with one validating webhook, with a mutating and a validating webhook, and
reads per second of a custom resource through its storage version and through a version the
conversion webhook converts.

    .venv/bin/python benchmarks/apiserver_webhooks.py [--requests 300]

Server, webhook (HTTPS, certificates from ``http/tls.py``) and client share one process and
one event loop on 127.0.0.1, so the figures include the webhook's own work; each webhook
call opens a new TLS connection, as the server's client does here. Prints one line each.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from opframe.testing.apiserver import ApiServer
from opframe.testing.apiserver.http.tls import write_certificates

ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def _review_answer(review: dict[str, Any]) -> dict[str, Any]:
    request = review["request"]
    if review["kind"] == "ConversionReview":
        objs = [dict(o, apiVersion=request["desiredAPIVersion"]) for o in request["objects"]]
        response = {"uid": request["uid"], "result": {"status": "Success"},
                    "convertedObjects": objs}  # fmt: skip
        return {"apiVersion": review["apiVersion"], "kind": "ConversionReview",
                "response": response}  # fmt: skip
    response = {"uid": request["uid"], "allowed": True}
    if review["request"]["object"] is not None and "mutate" in review.get("_path", ""):
        patch = [{"op": "add", "path": "/metadata/labels", "value": {"defaulted": "yes"}}]
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


async def _serve(request: web.Request) -> web.Response:
    review = json.loads(await request.read())
    review["_path"] = request.path
    return web.json_response(_review_answer(review))


def _hook(name: str, url: str, ca: str) -> dict[str, Any]:
    rule = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["configmaps"]}  # fmt: skip
    return {"name": name, "clientConfig": {"url": url, "caBundle": ca}, "rules": [rule],
            "sideEffects": "None", "admissionReviewVersions": ["v1"]}  # fmt: skip


async def _rate(n: int, call: Any) -> float:
    start = time.perf_counter()
    for i in range(n):
        await call(i)
    return n / (time.perf_counter() - start)


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ca_file, cert, key = write_certificates(Path(tmp))
        ca = base64.b64encode(ca_file.read_bytes()).decode()
        app = web.Application()
        app.router.add_post("/{tail:.*}", _serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"https://127.0.0.1:{port}"
        try:
            async with ApiServer(tls=False, authorization="AlwaysAllow") as server:
                headers = {"Authorization": f"Bearer {server.token}"}
                async with aiohttp.ClientSession(server.url, headers=headers) as s:
                    await _run(s, url, ca, requests)
        finally:
            await runner.cleanup()


async def _run(s: aiohttp.ClientSession, url: str, ca: str, n: int) -> None:
    async def post(path: str, body: Any) -> Any:
        async with s.post(path, json=body) as resp:
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()

    def create(prefix: str) -> Any:
        async def one(i: int) -> None:
            await post("/api/v1/namespaces/default/configmaps",
                       {"metadata": {"name": f"{prefix}-{i}"}})  # fmt: skip

        return one

    print(f"creates/s, no webhook: {await _rate(n, create('plain')):.0f}")
    await post(f"{ADMISSION}/validatingwebhookconfigurations",
               {"metadata": {"name": "v"},
                "webhooks": [_hook("v.bench.io", url + "/v", ca)]})  # fmt: skip
    print(f"creates/s, one validating webhook: {await _rate(n, create('v')):.0f}")
    await post(f"{ADMISSION}/mutatingwebhookconfigurations",
               {"metadata": {"name": "m"},
                "webhooks": [_hook("m.bench.io", url + "/mutate", ca)]})  # fmt: skip
    print(f"creates/s, mutating + validating webhooks: {await _rate(n, create('mv')):.0f}")

    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    crd = {"metadata": {"name": "gizmos.bench.io"}, "spec": {
        "group": "bench.io", "scope": "Namespaced", "names": {"plural": "gizmos", "kind": "Gizmo"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema},
                     {"name": "v2", "served": True, "storage": False, "schema": schema}],
        "conversion": {"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": url + "/convert", "caBundle": ca},
            "conversionReviewVersions": ["v1"]}}}}  # fmt: skip
    await post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    base = "/apis/bench.io/{}/namespaces/default/gizmos"
    async with asyncio.timeout(30):
        while True:
            async with s.get(base.format("v2")) as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.1)  # polling the CRD's establishment, not a measurement
    await post(base.format("v1"), {"apiVersion": "bench.io/v1", "kind": "Gizmo",
                                   "metadata": {"name": "g"}})  # fmt: skip

    def get(version: str) -> Any:
        async def one(i: int) -> None:
            async with s.get(base.format(version) + "/g") as resp:
                assert resp.status == 200

        return one

    print(f"gets/s, storage version: {await _rate(n, get('v1')):.0f}")
    print(f"gets/s, through the conversion webhook: {await _rate(n, get('v2')):.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
