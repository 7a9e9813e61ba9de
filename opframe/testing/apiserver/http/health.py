"""Health checks and metrics: ``/healthz``, ``/livez``, ``/readyz`` and ``/metrics``.

The health endpoints answer as ``apiserver/pkg/server/healthz`` does: ``ok`` in plain text,
or with ``?verbose`` one ``[+]name ok`` line per check and ``livez check passed``; a single
check has its own path (``/readyz/etcd``), and ``?exclude=name`` leaves one out. ``/metrics``
is Prometheus text with a few of kube-apiserver's series (``apiserver_request_total``,
``apiserver_storage_objects``, ``apiserver_longrunning_requests``).

    counters = RequestCounter()
    counters.count("LIST", target, 200)
    text = metrics_text(counters, store, watches)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from opframe.testing.apiserver.http.request import Target
from opframe.testing.apiserver.http.responses import plain_not_found

__all__ = ["HEALTH_PATHS", "RequestCounter", "health_response", "metrics_text"]

_LIVE = (
    "ping",
    "log",
    "etcd",
    "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/start-apiextensions-informers",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/start-system-namespaces-controller",
    "poststarthook/bootstrap-controller",
    "poststarthook/rbac/bootstrap-roles",
)
#: The checks of each endpoint, in the order the real server lists them.
_CHECKS = {
    "healthz": _LIVE,
    "livez": _LIVE,
    "readyz": (*_LIVE[:3], "etcd-readiness", "informer-sync", *_LIVE[3:], "shutdown"),
}
HEALTH_PATHS = frozenset(f"/{name}" for name in _CHECKS)
_TEXT = "text/plain; charset=utf-8"


def _text(status: int, body: str) -> web.Response:
    headers = {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"}
    return web.Response(status=status, body=body.encode(), headers=headers)


def health_response(path: str, query: Any) -> web.StreamResponse:
    """The answer of a health path (``/livez``, ``/readyz/etcd``...); every check passes."""
    endpoint, _, check = path[1:].partition("/")
    checks = _CHECKS.get(endpoint)
    if checks is None:
        return plain_not_found()
    if check or path.endswith("/"):
        return _text(200, "ok") if check in checks else plain_not_found()
    excluded = set(query.getall("exclude", []))
    if "verbose" not in query:
        return _text(200, "ok")
    lines = [f"[+]{c} excluded: ok" if c in excluded else f"[+]{c} ok" for c in checks]
    return _text(200, "\n".join(lines) + f"\n{endpoint} check passed\n")


class RequestCounter:
    """``apiserver_request_total``: requests by verb, group, version, resource, scope, code."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()

    def count(self, verb: str, target: Target, code: int, *, apply: bool = False) -> None:
        """Count one answered request (``verb`` as the request verb, ``list``...)."""
        rt = target.rt
        if target.name:
            scope = "resource"
        elif rt.namespaced and target.namespace:
            scope = "namespace"
        else:
            scope = "cluster"
        label = _METRIC_VERBS.get(verb, verb.upper())
        if apply:
            label = "APPLY"
        key = (str(code), rt.group, label, rt.plural, scope, target.subresource, rt.version)
        self.counts[key] += 1


_METRIC_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


def metrics_text(counter: RequestCounter, objects: dict[str, int], watches: int) -> str:
    """The Prometheus text exposition of the server's metrics."""
    out = [
        "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for "
        "each verb, dry run value, group, version, resource, scope, component, and HTTP "
        "response code.",
        "# TYPE apiserver_request_total counter",
    ]
    for (code, group, verb, resource, scope, sub, version), n in sorted(counter.counts.items()):
        labels = _labels(
            code=code,
            component="apiserver",
            dry_run="",
            group=group,
            resource=resource,
            scope=scope,
            subresource=sub,
            verb=verb,
            version=version,
        )
        out.append(f"apiserver_request_total{labels} {n}")
    out += [
        "# HELP apiserver_storage_objects [STABLE] Number of stored objects at the time of last "
        "check split by kind.",
        "# TYPE apiserver_storage_objects gauge",
    ]
    for resource, n in sorted(objects.items()):
        out.append(f"apiserver_storage_objects{_labels(resource=resource)} {n}")
    out += [
        "# HELP apiserver_longrunning_requests [STABLE] Gauge of all active long-running "
        "apiserver requests broken out by verb, group, version, resource, scope and component.",
        "# TYPE apiserver_longrunning_requests gauge",
        f"apiserver_longrunning_requests{_labels(component='apiserver', verb='WATCH')} {watches}",
    ]
    return "\n".join(out) + "\n"
