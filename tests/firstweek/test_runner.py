"""``run_manager``: the shared start-up of ``opframe run`` and operators' own ``__main__``."""

from __future__ import annotations

import asyncio
import json
import logging

from opframe import Client, ConfigMap, Controller, Manager, RunOptions, run_manager
from opframe._runlog import JsonFormatter
from opframe._runtarget import watched_kinds
from opframe.testing import ApiServer


async def _noop(ctx: object, obj: ConfigMap) -> None:
    return None


def _options(api_server: ApiServer, **changes: object) -> RunOptions:
    base: dict[str, object] = {
        "kubeconfig": str(api_server.kubeconfig),
        "health_port": 0,
        "metrics_port": 0,
    }
    base.update(changes)
    return RunOptions(**base)  # type: ignore[arg-type]


async def test_a_factory_taking_the_client_gets_the_connected_one(api_server: ApiServer) -> None:
    built: asyncio.Future[Manager] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def make(client: Client) -> Manager:
        seen.append(client.host)
        manager = Manager(client)
        manager.add(Controller(for_=ConfigMap, reconciler=_noop))
        built.set_result(manager)
        return manager

    task = asyncio.create_task(run_manager(make, _options(api_server)))
    try:
        async with asyncio.timeout(20):
            manager = await built
            await manager.wait_ready()
            manager.stop()
            await task
    finally:
        task.cancel()
    assert seen == [api_server.url]


def test_rebuilt_manager_watches_the_flags_namespace() -> None:
    from opframe._runtarget import rebuilt_for_namespace

    manager = Manager()
    manager.add(Controller(for_=ConfigMap, reconciler=_noop))
    narrowed = rebuilt_for_namespace(manager, "team-a")
    assert watched_kinds(narrowed) == [(ConfigMap, "team-a")]
    assert [c.name for c in narrowed.controllers] == ["configmap"]


def test_json_log_lines_carry_the_reconcile_context() -> None:
    record = logging.LogRecord("opframe.controller", logging.INFO, "x", 1, "hi %s", ("a",), None)
    record.controller = "web"
    record.object_name = "blog"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hi a"
    assert entry["level"] == "INFO"
    assert entry["controller"] == "web" and entry["object_name"] == "blog"


async def test_flags_set_leader_election_ports_and_bind_address(api_server: ApiServer) -> None:
    from opframe.runner import _configure

    manager = Manager()
    manager.add(Controller(for_=ConfigMap, reconciler=_noop))
    options = RunOptions(
        leader_elect=True, health_port=9001, metrics_port=9002, bind_address="0.0.0.0"
    )
    async with await Client.default(kubeconfig=api_server.kubeconfig) as client:
        configured = _configure(manager, client, options)
    assert configured.leader_election is not None
    assert configured.leader_election.name == "configmap-operator"
    assert configured.leader_election.namespace == "default"
    assert configured.health_address == ("0.0.0.0", 9001)
    assert configured.metrics_address == ("0.0.0.0", 9002)


def test_run_options_parse_the_flags_of_opframe_run() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    RunOptions.add_arguments(parser)
    options = RunOptions.from_args(
        parser.parse_args(
            ["--namespace", "a", "--leader-elect", "--log-level", "debug", "--log-format", "json"]
        )
    )
    assert options == RunOptions(
        namespace="a", leader_elect=True, log_level="DEBUG", log_format="json"
    )
