"""The pytest plugin gives what an operator's tests need: client, install_crds, run_operator,
eventually, and a configured pytest-asyncio."""

from __future__ import annotations

import textwrap

import pytest

from opframe import (
    Client,
    ConfigMap,
    Context,
    Controller,
    KubeModel,
    Manager,
    NotFound,
    ObjectMeta,
    Resource,
)
from opframe.testing import ApiServer, InstallCrds, OperatorRunner, eventually

pytest_plugins = ["pytester"]


class GadgetSpec(KubeModel):
    colour: str


class Gadget(Resource, group="plugin.opframe.dev", version="v1"):
    spec: GadgetSpec


async def publish(ctx: Context, gadget: Gadget) -> None:
    cm = ConfigMap(
        metadata=ObjectMeta(name=gadget.metadata.name, namespace=gadget.metadata.namespace),
        data={"colour": gadget.spec.colour},
    )
    await ctx.client.apply(cm, field_manager="gadgets", force=True)


def gadget_manager() -> Manager:
    manager = Manager()
    manager.add(Controller(for_=Gadget, reconciler=publish))
    return manager


async def test_eventually_returns_the_first_passing_result() -> None:
    calls: list[int] = []

    def third_time() -> int | bool:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else False

    assert await eventually(third_time, timeout=5) == 3


async def test_eventually_fails_naming_the_check_the_tries_and_the_last_error() -> None:
    def never() -> None:
        raise AssertionError("colour is red, want blue")

    with pytest.raises(AssertionError) as failure:
        await eventually(never, timeout=0.2, interval=0.05)
    text = str(failure.value)
    assert text.startswith("check ") and "never()" in text
    assert "not true within 0.2s" in text and "tries" in text
    assert "AssertionError: colour is red, want blue" in text


async def test_eventually_retries_not_found_until_the_object_exists(client: Client) -> None:
    async def created_late() -> ConfigMap:
        try:
            return await client.get(ConfigMap, "late", "default")
        except NotFound:
            await client.create(ConfigMap(metadata=ObjectMeta(name="late", namespace="default")))
            raise

    cm = await eventually(created_late, timeout=5)
    assert cm.metadata.name == "late"


async def test_the_client_fixture_talks_to_the_api_server_fixture(
    client: Client, api_server: ApiServer
) -> None:
    assert client.host == api_server.url
    await client.list(ConfigMap, "default")


async def test_install_crds_makes_the_kind_served(
    client: Client, install_crds: InstallCrds
) -> None:
    names = await install_crds(Gadget)
    assert names == ["gadgets.plugin.opframe.dev"]
    assert (await client.list(Gadget, "default")).items == []


async def test_run_operator_runs_the_manager_against_the_test_server(
    client: Client, install_crds: InstallCrds, run_operator: OperatorRunner
) -> None:
    await install_crds(Gadget)
    await run_operator(gadget_manager)
    await client.create(
        Gadget(metadata=ObjectMeta(name="g", namespace="default"), spec=GadgetSpec(colour="red"))
    )
    cm = await eventually(lambda: client.get(ConfigMap, "g", "default"))
    assert cm.data == {"colour": "red"}


async def test_run_operator_stops_the_manager_cleanly(
    client: Client, install_crds: InstallCrds
) -> None:
    await install_crds(Gadget)
    runner = OperatorRunner(client)
    manager = await runner.start(gadget_manager)
    assert manager.is_leader
    await runner.stop_all()
    assert not manager.is_leader


async def test_run_operator_without_the_crd_says_what_to_install(
    run_operator: OperatorRunner,
) -> None:
    with pytest.raises(AssertionError) as failure:
        await run_operator(gadget_manager)
    assert "gadgets.plugin.opframe.dev is not installed" in str(failure.value)
    assert "install_crds(Model)" in str(failure.value)


def test_a_project_without_asyncio_mode_runs_async_tests_with_the_fixtures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makepyfile(
        textwrap.dedent(
            """
            from opframe import ConfigMap

            async def test_lists(client):
                assert (await client.list(ConfigMap, "default")).items == []
            """
        )
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
