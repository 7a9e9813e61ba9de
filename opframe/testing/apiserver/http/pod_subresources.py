"""Pod subresources served by the API server itself: ``binding``, ``eviction`` and ``log``.

``binding`` is how a scheduler (here: the local kubelet) assigns a pod to a node; ``log``
streams container output from the pod log provider the local kubelet installs.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from opframe.testing.apiserver import protobuf
from opframe.testing.apiserver.errors import bad_request, conflict, method_not_allowed, not_found
from opframe.testing.apiserver.http.log_options import log_options
from opframe.testing.apiserver.http.request import Target, decode_body
from opframe.testing.apiserver.http.responses import json_response
from opframe.testing.apiserver.registry.writes import DeleteOptions, Writer, now, rfc3339

__all__ = ["PodLogProvider", "PodSubresources"]


class PodLogProvider(Protocol):
    """Serves ``GET .../pods/NAME/log`` (the local kubelet implements it)."""

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        follow: bool,
        tail_lines: int | None,
        previous: bool,
        since_seconds: int | None = None,
        since_time: datetime | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The container's log, as chunks of bytes (``PodLogOptions`` applied)."""
        ...


def _success(code: int) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}


class PodSubresources:
    """Handlers of pods/binding, pods/eviction and pods/log."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def handle(
        self, request: web.Request, target: Target, logs: PodLogProvider | None
    ) -> web.StreamResponse:
        """Answer a request on one of the pod subresources."""
        sub = target.subresource
        if sub == "log" and request.method == "GET":
            return await self._log(request, target, logs)
        if sub in ("binding", "eviction") and request.method == "POST":
            raw = await request.read()
            if request.content_type == protobuf.MEDIA_TYPE:  # typed clients (kubectl drain)
                gvk = ("v1", "Binding") if sub == "binding" else ("policy/v1", "Eviction")
                body = protobuf.decode_request(raw, *gvk)
            else:
                body = decode_body(raw, "json", "Binding")
            if not isinstance(body, dict):
                raise bad_request("the body must be an object")
            if sub == "binding":
                return self._bind(target, body, request.headers.get("User-Agent", ""))
            return self._evict(target)
        raise method_not_allowed()

    def _pod(self, target: Target) -> Any:
        so = self.writer.store.get("/pods", target.namespace or "", target.name)
        if so is None:
            raise not_found("pods", target.name)
        return so

    def _bind(self, target: Target, body: dict[str, Any], user_agent: str) -> web.StreamResponse:
        so = self._pod(target)
        node = ((body.get("target") or {}).get("name")) or ""
        if not node:
            raise bad_request("a binding target node name is required")
        current = (so.obj.get("spec") or {}).get("nodeName")
        if current:
            raise conflict(
                "pods/binding",
                target.name,
                "",
                f'pod {target.name} is already assigned to node "{current}"',
            )
        if so.meta.get("deletionTimestamp"):
            raise conflict(
                "pods/binding",
                target.name,
                "",
                f"pod {target.name} is being deleted, cannot be assigned to a host",
            )
        new = copy.deepcopy(so.obj)
        new["spec"]["nodeName"] = node
        conditions = [
            c
            for c in (new.get("status") or {}).get("conditions") or []
            if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": rfc3339(now()),
            }
        )
        new.setdefault("status", {})["conditions"] = conditions
        # Binding writes spec.nodeName, which the pod update strategy forbids: store directly.
        self.writer.store.put("/pods", new, created=False)
        return json_response(201, _success(201))

    def _evict(self, target: Target) -> web.StreamResponse:
        so = self._pod(target)
        self.writer.delete(target.rt, so, DeleteOptions())
        return json_response(201, _success(201))

    async def _log(
        self, request: web.Request, target: Target, logs: PodLogProvider | None
    ) -> web.StreamResponse:
        q = request.query
        options = log_options(q, target.name)  # validated first, as LogREST.Get does
        so = self._pod(target)
        containers = [c.get("name", "") for c in (so.obj.get("spec") or {}).get("containers") or []]
        container = q.get("container", "")
        if not container:
            if len(containers) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {target.name}, choose one of: "
                    f"[{' '.join(containers)}]"
                )
            container = containers[0]
        elif container not in containers:
            raise bad_request(f"container {container} is not valid for pod {target.name}")
        if logs is None or not (so.obj.get("spec") or {}).get("nodeName"):
            raise bad_request(
                f'container "{container}" in pod "{target.name}" is waiting to start: '
                "ContainerCreating"
            )
        chunks = logs.pod_log(target.namespace or "", target.name, container, **options)
        # The first chunk decides between an error answer and a stream: the provider raises
        # LookupError (with the kubelet's words) when the container has no log yet.
        try:
            first = await anext(chunks, None)
        except LookupError as e:
            raise bad_request(str(e.args[0]) if e.args else str(e)) from None
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            if first is not None:
                await resp.write(first)
                async for chunk in chunks:
                    await resp.write(chunk)
            await resp.write_eof()
        except ConnectionError:
            pass
        finally:
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                await closer()
        return resp
