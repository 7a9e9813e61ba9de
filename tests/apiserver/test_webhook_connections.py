"""The embedded server's webhook client keeps its connections alive and closes them on stop.

Rule: kube-apiserver builds one REST client per webhook client config and caches it
(``staging/src/k8s.io/apiserver/pkg/util/webhook/client.go``, ``ClientManager.HookClient``),
and Go's HTTP transport reuses an idle TLS connection for the next call, so consecutive calls
to one webhook do not each pay a TLS handshake. The embedded server keeps one aiohttp session
per CA bundle (``admission/calls.py`` ``ClientPool``), shared by admission and conversion
webhooks, and closes it when the server stops. Figures: ``benchmarks/apiserver_webhooks.py``.
"""

from __future__ import annotations

from opframe import Client, ConfigMap, ObjectMeta
from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer
from tests.apiserver._webhook_server import CM_RULE, WebhookServer, allow, install


async def _install(client: Client, hooks: WebhookServer, *paths: str) -> None:
    rule = dict(CM_RULE, operations=["CREATE"])
    webhooks = [
        hooks.webhook(f"h{i}.example.com", path, allow, rules=[rule])
        for i, path in enumerate(paths)
    ]
    await install(client, "ValidatingWebhookConfiguration", "keepalive", *webhooks)


async def test_consecutive_calls_reuse_one_connection_and_stop_closes_it(
    hooks: WebhookServer,
) -> None:
    """Ten sequential writes, each calling two validating webhooks of one CA bundle (called
    in parallel, as ``validating/dispatcher.go`` does), reach the webhook server over at most
    two connections, not twenty; stopping the API server closes them."""
    async with ApiServer() as server:
        async with await Client.default(kubeconfig=server.kubeconfig) as client:
            await _install(client, hooks, "/a", "/b")
            for i in range(10):
                await client.create(
                    ConfigMap(metadata=ObjectMeta(name=f"c{i}", namespace="default"))
                )
        assert len(hooks.peers) == 20
        assert len(set(hooks.peers)) <= 2, f"connections used: {set(hooks.peers)}"
        assert 1 <= hooks.open_connections() <= 2
    await eventually(lambda: hooks.open_connections() == 0, timeout=30)


async def test_a_webhook_restarted_between_calls_is_called_on_a_new_connection(
    client: Client, hooks: WebhookServer
) -> None:
    """A kept-alive connection the webhook closed (it restarted) is not a call failure: the
    next write reaches the restarted webhook on a new connection (Go's transport drops a
    closed idle connection, and retries a request a reused connection lost before answering,
    ``net/http/transport.go``; a failure here would refuse writes under
    ``failurePolicy: Fail``)."""
    await _install(client, hooks, "/a")
    await client.create(ConfigMap(metadata=ObjectMeta(name="before", namespace="default")))
    await hooks.restart()
    await client.create(ConfigMap(metadata=ObjectMeta(name="after", namespace="default")))
    assert [r["request"]["name"] for r in hooks.reviews("/a")] == ["before", "after"]
    assert len(set(hooks.peers)) == 2
