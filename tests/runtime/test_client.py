"""The typed client against the embedded API server over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opframe.client import ApiConnectionError, Client, RetryPolicy
from opframe.errors import (
    AlreadyExists,
    BadRequest,
    ConfigError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
)
from opframe.kinds import ConfigMap, Namespace, Secret
from opframe.resource import ObjectMeta
from opframe.testing.apiserver import ApiServer

from ._sdk import Widget, WidgetSpec, WidgetStatus, configmap, install_widget_crd, serve, widget


@pytest.fixture
async def env() -> AsyncIterator[tuple[ApiServer, Client]]:
    async with serve() as pair:
        yield pair


@pytest.fixture
def server(env: tuple[ApiServer, Client]) -> ApiServer:
    return env[0]


@pytest.fixture
def client(env: tuple[ApiServer, Client]) -> Client:
    return env[1]


async def test_create_then_get_returns_the_stored_typed_object(client: Client) -> None:
    created = await client.create(configmap("a", data={"k": "v"}))
    assert isinstance(created, ConfigMap)
    assert created.metadata.uid and created.metadata.resource_version
    fetched = await client.get(ConfigMap, "a", namespace="default")
    assert fetched.data == {"k": "v"}
    assert fetched.metadata.uid == created.metadata.uid


async def test_replace_updates_the_object(client: Client) -> None:
    obj = await client.create(configmap("a", data={"k": "v"}))
    obj.data = {"k": "w"}
    replaced = await client.replace(obj)
    assert replaced.data == {"k": "w"}
    assert replaced.metadata.resource_version != obj.metadata.resource_version


async def test_merge_patch(client: Client) -> None:
    await client.create(configmap("a", data={"k": "v", "x": "1"}))
    patched = await client.patch(
        ConfigMap, "a", {"data": {"k": None, "y": "2"}}, namespace="default"
    )
    assert patched.data == {"x": "1", "y": "2"}


async def test_json_patch(client: Client) -> None:
    await client.create(configmap("a", data={"k": "v"}))
    patched = await client.patch(
        ConfigMap,
        "a",
        [{"op": "replace", "path": "/data/k", "value": "w"}],
        namespace="default",
        patch_type="json",
    )
    assert patched.data == {"k": "w"}


async def test_strategic_merge_patch(client: Client) -> None:
    await client.create(configmap("a", data={"k": "v"}))
    patched = await client.patch(
        ConfigMap, "a", {"data": {"n": "1"}}, namespace="default", patch_type="strategic"
    )
    assert patched.data == {"k": "v", "n": "1"}


async def test_server_side_apply_creates_and_conflicts_between_managers(client: Client) -> None:
    applied = await client.apply(configmap("a", data={"k": "v"}), field_manager="alice")
    assert applied.data == {"k": "v"}
    with pytest.raises(Conflict):
        await client.apply(configmap("a", data={"k": "w"}), field_manager="bob")
    forced = await client.apply(configmap("a", data={"k": "w"}), field_manager="bob", force=True)
    assert forced.data == {"k": "w"}


async def test_apply_sends_only_the_fields_that_were_set(client: Client) -> None:
    await install_widget_crd(client)
    bare = Widget(metadata=ObjectMeta(name="w", namespace="default"))
    await client.apply(bare, field_manager="alice")  # spec.size left at its model default
    sized = Widget(metadata=ObjectMeta(name="w", namespace="default"), spec=WidgetSpec(size=5))
    applied = await client.apply(sized, field_manager="bob")  # no conflict with alice
    assert applied.spec.size == 5


async def test_delete_removes_the_object(client: Client) -> None:
    await client.create(configmap("a"))
    await client.delete(ConfigMap, "a", namespace="default")
    with pytest.raises(NotFound):
        await client.get(ConfigMap, "a", namespace="default")


async def test_missing_object_raises_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as info:
        await client.get(ConfigMap, "missing", namespace="default")
    assert info.value.status == 404


async def test_duplicate_create_raises_already_exists(client: Client) -> None:
    await client.create(configmap("a"))
    with pytest.raises(AlreadyExists):
        await client.create(configmap("a"))


async def test_stale_replace_raises_conflict_not_already_exists(client: Client) -> None:
    stale = await client.create(configmap("a", data={"k": "v"}))
    fresh = stale.model_copy(deep=True)
    fresh.data = {"k": "first"}
    await client.replace(fresh)
    stale.data = {"k": "second"}
    with pytest.raises(Conflict) as info:
        await client.replace(stale)
    assert not isinstance(info.value, AlreadyExists)


async def test_delete_precondition_mismatch_raises_conflict(client: Client) -> None:
    await client.create(configmap("a"))
    with pytest.raises(Conflict):
        await client.delete(ConfigMap, "a", namespace="default", preconditions={"uid": "nope"})


async def test_invalid_object_raises_invalid_with_field_causes(client: Client) -> None:
    with pytest.raises(Invalid) as info:
        await client.create(configmap("Not_A_Valid_Name"))
    assert info.value.status == 422
    assert any(cause.field == "metadata.name" for cause in info.value.causes)


async def test_dry_run_create_persists_nothing(client: Client) -> None:
    result = await client.create(configmap("a", data={"k": "v"}), dry_run=True)
    assert result.data == {"k": "v"}
    with pytest.raises(NotFound):
        await client.get(ConfigMap, "a", namespace="default")


async def test_throttled_request_is_retried_after_retry_after(
    server: ApiServer, client: Client
) -> None:
    server.faults.add(verb="create", resource="configmaps", status=429, retry_after=1, times=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.create(configmap("a"))
    assert loop.time() - started >= 0.9  # waited for the server's Retry-After
    assert (await client.get(ConfigMap, "a", namespace="default")).metadata.name == "a"


async def test_throttling_beyond_the_retry_budget_raises_too_many_requests(
    server: ApiServer,
) -> None:
    async with await Client.from_kubeconfig(
        server.kubeconfig, retry=RetryPolicy(max_retries=1)
    ) as client:
        server.faults.add(verb="get", resource="configmaps", status=429, retry_after=0, times=5)
        with pytest.raises(TooManyRequests) as info:
            await client.get(ConfigMap, "a", namespace="default")
        assert info.value.retry_after is not None


async def test_server_error_raises_server_error(server: ApiServer, client: Client) -> None:
    server.faults.add(verb="get", resource="configmaps", status=500, times=1)
    with pytest.raises(ServerError) as info:
        await client.get(ConfigMap, "a", namespace="default")
    assert info.value.status == 500


async def test_wrong_token_raises_unauthorized(server: ApiServer, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(server.kubeconfig.read_text().replace(server.token, "wrong-token"))
    async with await Client.from_kubeconfig(kubeconfig) as client:
        with pytest.raises(Unauthorized):
            await client.get(ConfigMap, "a", namespace="default")


async def test_rotated_token_file_is_reloaded_after_401(server: ApiServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("expired-token")
    assert server.ca_file is not None
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: '{server.url}', "
        f"certificate-authority: '{server.ca_file}'}}}}]\n"
        f"users: [{{name: u, user: {{tokenFile: '{token_file}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    async with await Client.from_kubeconfig(kubeconfig) as client:
        token_file.write_text(server.token)  # the token is rotated on disk
        assert (await client.get(Namespace, "default")).metadata.name == "default"


async def test_forbidden_raises_forbidden(server: ApiServer, client: Client) -> None:
    server.faults.add(verb="list", resource="secrets", status=403, times=1)
    with pytest.raises(Forbidden):
        await client.list(Secret, "default")


async def test_unreachable_server_names_the_endpoint(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    async with await Client.from_kubeconfig(kubeconfig) as client:
        with pytest.raises(ApiConnectionError, match=r"http://127\.0\.0\.1:9"):
            await client.get(ConfigMap, "a", namespace="default")


async def test_missing_kubeconfig_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no kubeconfig at .*nope"):
        await Client.from_kubeconfig(tmp_path / "nope")


async def test_list_filters_by_label_selector(client: Client) -> None:
    await client.create(configmap("a", labels={"app": "etcd"}))
    await client.create(configmap("b", labels={"app": "web"}))
    listed = await client.list(ConfigMap, "default", label_selector={"app": "etcd"})
    assert [o.metadata.name for o in listed.items] == ["a"]
    assert listed.metadata.resource_version


async def test_list_pages_with_limit_and_continue(client: Client) -> None:
    for i in range(5):
        await client.create(configmap(f"cm-{i}"))
    first = await client.list(ConfigMap, "default", limit=2)
    assert len(first.items) == 2 and first.metadata.continue_
    rest = await client.list(ConfigMap, "default", limit=10, continue_=first.metadata.continue_)
    names = [o.metadata.name for o in [*first.items, *rest.items]]
    assert [n for n in names if n and n.startswith("cm-")] == [f"cm-{i}" for i in range(5)]


async def test_list_all_iterates_every_page(client: Client) -> None:
    for i in range(7):
        await client.create(configmap(f"cm-{i}"))
    names = [o.metadata.name async for o in client.list_all(ConfigMap, "default", page_size=3)]
    assert sorted(n for n in names if n and n.startswith("cm-")) == [f"cm-{i}" for i in range(7)]


async def test_cluster_scoped_kind(client: Client) -> None:
    await client.create(Namespace(metadata=ObjectMeta(name="team-a")))
    assert (await client.get(Namespace, "team-a")).metadata.name == "team-a"


async def test_namespaced_kind_without_namespace_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="namespaced"):
        await client.get(ConfigMap, "a")


async def test_status_subresource_updates_only_status(client: Client) -> None:
    await install_widget_crd(client)
    created = await client.create(widget("w", size=3))
    assert isinstance(created, Widget)
    created.spec.size = 99
    created.status = WidgetStatus(ready=2)
    updated = await client.replace_status(created)
    assert updated.status is not None and updated.status.ready == 2
    assert updated.spec.size == 3
    patched = await client.patch_status(Widget, "w", {"status": {"ready": 3}}, namespace="default")
    assert patched.status is not None and patched.status.ready == 3


async def test_apply_status_writes_only_status(client: Client) -> None:
    await install_widget_crd(client)
    await client.create(widget("w", size=3))
    partial = Widget(
        metadata=ObjectMeta(name="w", namespace="default"),
        spec=WidgetSpec(size=50),
        status=WidgetStatus(ready=1),
    )
    applied = await client.apply_status(partial, field_manager="test", force=True)
    assert applied.status is not None and applied.status.ready == 1
    assert applied.spec.size == 3


async def test_ensure_creates_a_missing_object(client: Client) -> None:
    made = await client.ensure(configmap("fresh", data={"k": "v"}))
    assert made.metadata.uid
    assert (await client.get(ConfigMap, "fresh", "default")).data == {"k": "v"}


async def test_ensure_returns_an_existing_object_unchanged(client: Client) -> None:
    first = await client.create(configmap("kept", data={"k": "old"}))
    again = await client.ensure(configmap("kept", data={"k": "new"}))
    assert again.metadata.uid == first.metadata.uid
    assert again.data == {"k": "old"}


async def test_strict_field_validation_rejects_unknown_fields(server: ApiServer) -> None:
    async with await Client.from_kubeconfig(server.kubeconfig, field_validation="Strict") as client:
        await install_widget_crd(client)
        typo = Widget(
            metadata=ObjectMeta(name="w", namespace="default"),
            spec=WidgetSpec.model_validate({"size": 1, "sise": 2}),
        )
        with pytest.raises(BadRequest, match="sise"):
            await client.create(typo)


async def test_closed_client_refuses_requests(server: ApiServer) -> None:
    client = await Client.from_kubeconfig(server.kubeconfig)
    await client.get(Namespace, "default")
    await client.close()
    with pytest.raises(RuntimeError, match="is closed"):
        await client.get(Namespace, "default")


async def test_raw_request_returns_decoded_json(client: Client) -> None:
    version = await client.request("GET", "/version")
    assert "gitVersion" in version
