"""The Validating/MutatingWebhookConfiguration objects for the webhooks a manager serves.

::

    docs = webhook_configurations(
        manager, name="web-operator",
        client_config=ClientConfig(service=ServiceReference("web-webhook", "web-system"),
                                   ca_bundle=Path("ca.crt").read_bytes()),
    )
    print(dump_yaml(docs))     # or: opframe webhook generate mymodule:manager --service ...

Each declared webhook becomes one entry (``admissionregistration.k8s.io/v1``): a rule from its
kind (group, version, plural and subresources, scope) and operations, its ``failurePolicy``,
``matchPolicy``, ``sideEffects``, ``timeoutSeconds``, selectors and ``matchConditions``,
``admissionReviewVersions: [v1]``, and a ``clientConfig`` that names the Service (or a URL)
plus the webhook's path and the CA bundle. With ``cert_manager="ns/certificate"`` the
``caBundle`` is left to cert-manager's CA injector (the ``cert-manager.io/inject-ca-from``
annotation) instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opframe.webhook.admission import MutatingWebhook, ValidatingWebhook
from opframe.webhook.conversion import CONVERSION_REVIEW_VERSION

__all__ = [
    "CERT_MANAGER_INJECT",
    "ClientConfig",
    "ServiceReference",
    "crd_conversion",
    "webhook_configurations",
]

CERT_MANAGER_INJECT = "cert-manager.io/inject-ca-from"
"""The annotation cert-manager's CA injector reads (``<namespace>/<Certificate name>``)."""
_ADMISSIONREGISTRATION = "admissionregistration.k8s.io/v1"


@dataclass(frozen=True)
class ServiceReference:
    """The Service in front of the webhook server: ``port`` is the Service's port."""

    name: str
    namespace: str
    port: int = 443


@dataclass(frozen=True)
class ClientConfig:
    """How the API server reaches the webhooks: a Service, or a base URL (outside a cluster).

    Exactly one of ``service`` and ``url`` (``https://host:port``, the paths are appended).
    ``ca_bundle`` is the PEM CA that signed the serving certificate.
    """

    service: ServiceReference | None = None
    url: str | None = None
    ca_bundle: bytes | None = None

    def __post_init__(self) -> None:
        if (self.service is None) == (self.url is None):
            raise ValueError("ClientConfig needs exactly one of service= and url=")
        if self.url is not None and not self.url.startswith("https://"):
            raise ValueError(f"webhook url {self.url!r} must start with https://")

    def to_dict(self, path: str) -> dict[str, Any]:
        """The ``clientConfig`` for the webhook served at ``path``."""
        out: dict[str, Any] = {}
        if self.service is not None:
            out["service"] = {
                "name": self.service.name,
                "namespace": self.service.namespace,
                "path": path,
                "port": self.service.port,
            }
        else:
            out["url"] = (self.url or "").rstrip("/") + path
        if self.ca_bundle:
            out["caBundle"] = base64.b64encode(self.ca_bundle).decode()
        return out


def _selector(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if "matchLabels" in value or "matchExpressions" in value:
        return dict(value)
    return {"matchLabels": dict(value)}  # a plain label map is matchLabels


def _entry(
    webhook: ValidatingWebhook[Any] | MutatingWebhook[Any], client_config: ClientConfig
) -> dict[str, Any]:
    info = webhook.info
    resources = [info.plural, *(f"{info.plural}/{s}" for s in webhook.subresources)]
    entry: dict[str, Any] = {
        "name": webhook.name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": client_config.to_dict(webhook.path),
        "rules": [
            {
                "apiGroups": [info.group],
                "apiVersions": [info.version],
                "operations": list(webhook.operations),
                "resources": resources,
                "scope": info.scope,
            }
        ],
        "failurePolicy": webhook.failure_policy,
        "matchPolicy": webhook.match_policy,
        "sideEffects": webhook.side_effects,
        "timeoutSeconds": webhook.timeout_seconds,
    }
    for key, value in (
        ("namespaceSelector", _selector(webhook.namespace_selector)),
        ("objectSelector", _selector(webhook.object_selector)),
    ):
        if value is not None:
            entry[key] = value
    if webhook.match_conditions:
        entry["matchConditions"] = [
            {"name": c.name, "expression": c.expression} for c in webhook.match_conditions
        ]
    if isinstance(webhook, MutatingWebhook):
        entry["reinvocationPolicy"] = webhook.reinvocation_policy
    return entry


def _webhooks_of(target: Any) -> list[Any]:
    from opframe.manager import Manager
    from opframe.webhook.server import WebhookServer

    if isinstance(target, Manager):
        return list(target.webhooks)
    if isinstance(target, WebhookServer):
        return list(target.webhooks)
    if isinstance(target, Iterable):
        return list(target)
    raise TypeError(
        f"expected a Manager, a WebhookServer or a list of webhooks, got {type(target).__name__}"
    )


def webhook_configurations(
    target: Any,
    *,
    name: str,
    client_config: ClientConfig,
    cert_manager: str | None = None,
) -> list[dict[str, Any]]:
    """The webhook configurations for ``target`` (a Manager, WebhookServer or webhooks).

    One ``ValidatingWebhookConfiguration`` named ``<name>-validating`` and one
    ``MutatingWebhookConfiguration`` named ``<name>-mutating``, each only if it has webhooks.

    Raises:
        TypeError: ``target`` is none of those.
        ValueError: ``target`` declares no admission webhooks.
    """
    hooks = _webhooks_of(target)
    if cert_manager and "/" not in cert_manager:
        raise ValueError(f"cert_manager {cert_manager!r} must be <namespace>/<certificate>")
    docs = []
    for kind, cls in (
        ("ValidatingWebhookConfiguration", ValidatingWebhook),
        ("MutatingWebhookConfiguration", MutatingWebhook),
    ):
        entries = [_entry(h, client_config) for h in hooks if type(h) is cls]
        if entries:
            suffix = "validating" if cls is ValidatingWebhook else "mutating"
            metadata: dict[str, Any] = {"name": f"{name}-{suffix}"}
            if cert_manager:
                metadata["annotations"] = {CERT_MANAGER_INJECT: cert_manager}
            docs.append(
                {
                    "apiVersion": _ADMISSIONREGISTRATION,
                    "kind": kind,
                    "metadata": metadata,
                    "webhooks": entries,
                }
            )
    if not docs:
        raise ValueError("no ValidatingWebhook or MutatingWebhook is declared (add_webhook)")
    return docs


def crd_conversion(client_config: ClientConfig, path: str = "/convert") -> dict[str, Any]:
    """A CRD's ``spec.conversion`` calling the conversion webhook at ``path``."""
    return {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": client_config.to_dict(path),
            "conversionReviewVersions": [CONVERSION_REVIEW_VERSION.rpartition("/")[2]],
        },
    }
