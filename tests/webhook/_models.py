"""A two-version kind with webhooks: what the webhook tests serve and generate from.

``Web`` v1 (a spoke) has ``spec.replicas``; v2 (the hub, the storage version) renamed it
``spec.scale`` and added ``spec.image``.
"""

from __future__ import annotations

from opframe import Client, Manager
from opframe.resource import KubeModel, Resource
from opframe.webhook import (
    AdmissionRequest,
    ConversionWebhook,
    Denied,
    MatchCondition,
    MutatingWebhook,
    ValidatingWebhook,
    WebhookServer,
)

GROUP = "hooks.opframe.dev"


class WebSpecV1(KubeModel):
    replicas: int = 1
    image: str = ""


class WebSpecV2(KubeModel):
    scale: int = 1
    image: str = ""


class WebV2(Resource, group=GROUP, version="v2", kind="Web"):
    """The hub and storage version."""

    spec: WebSpecV2 = WebSpecV2()


class WebV1(Resource, group=GROUP, version="v1", kind="Web", storage=False):
    """The old version: replicas, not scale."""

    spec: WebSpecV1 = WebSpecV1()

    def convert_to_hub(self) -> WebV2:
        return WebV2(
            metadata=self.metadata,
            spec=WebSpecV2(scale=self.spec.replicas, image=self.spec.image),
        )

    @classmethod
    def convert_from_hub(cls, hub: WebV2) -> WebV1:
        return cls(
            metadata=hub.metadata,
            spec=WebSpecV1(replicas=hub.spec.scale, image=hub.spec.image),
        )


MAX_SCALE = 10


async def check_web(req: AdmissionRequest[WebV2]) -> None:
    """At most MAX_SCALE; a warning above 5; scale may not shrink to 0 on update."""
    web = req.require_object()
    if web.spec.scale > MAX_SCALE:
        raise Denied(f"spec.scale: {web.spec.scale} is more than {MAX_SCALE}")
    if web.spec.scale > 5:
        req.warn(f"spec.scale {web.spec.scale} is expensive")
    if req.operation == "UPDATE" and req.old_object is not None and web.spec.scale == 0:
        raise Denied(f"spec.scale: cannot scale {req.name} to 0 (was {req.old_object.spec.scale})")


def default_web(req: AdmissionRequest[WebV2]) -> WebV2:
    """Default spec.image; a plain def works as well as an async one."""
    web = req.require_object()
    if not web.spec.image:
        web.spec.image = "nginx:1.27"
    labels = dict(web.metadata.labels or {})
    labels.setdefault("app.kubernetes.io/managed-by", "web-operator")
    web.metadata.labels = labels
    return web


VALIDATE = ValidatingWebhook(
    WebV2,
    check_web,
    match_conditions=[
        MatchCondition("not-nodes", "!request.userInfo.username.startsWith('system:node:')")
    ],
    namespace_selector={
        "matchExpressions": [{"key": "skip-webhooks", "operator": "DoesNotExist"}]
    },
)
MUTATE = MutatingWebhook(
    WebV2, default_web, failure_policy="Ignore", object_selector={"tier": "web"}
)
CONVERT = ConversionWebhook(hub=WebV2, spokes=[WebV1])


def make_manager(server: WebhookServer | None = None, client: Client | None = None) -> Manager:
    """A manager serving the three webhooks (no controllers)."""
    manager = Manager(client, webhook_server=server, health_address=None, metrics_address=None)
    for hook in (VALIDATE, MUTATE, CONVERT):
        manager.add_webhook(hook)
    return manager


manager = make_manager()
"""For ``opframe webhook generate tests.webhook._models:manager``."""
