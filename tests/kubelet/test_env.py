"""Container environment: $(VAR) expansion and the downward API."""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.kubelet.env import EnvError, expand, field_ref, resolve_env

POD: dict[str, Any] = {
    "metadata": {
        "name": "etcd-0",
        "namespace": "db",
        "labels": {"app": "etcd"},
        "annotations": {"a": "b"},
        "uid": "u1",
    },
    "spec": {"nodeName": "n1"},
    "status": {"podIP": "127.9.0.1"},
}


async def _no_objects(kind: str, ns: str, name: str) -> dict[str, Any] | None:
    return None


def test_expand_replaces_known_keeps_unknown_and_unescapes() -> None:
    env = {"NAME": "etcd-0"}
    assert expand("--name=$(NAME) $(MISSING) $$(NAME)", env) == "--name=etcd-0 $(MISSING) $(NAME)"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "etcd-0"),
        ("metadata.namespace", "db"),
        ("status.podIP", "127.9.0.1"),
        ("spec.nodeName", "n1"),
        ("metadata.labels['app']", "etcd"),
        ("metadata.annotations['a']", "b"),
    ],
)
def test_downward_api_fields(path: str, value: str) -> None:
    assert field_ref(POD, path) == value


async def test_env_values_expand_earlier_variables_in_order() -> None:
    container = {
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "PEER", "value": "http://$(POD_NAME).etcd:2380"},
            {"name": "LATER", "value": "$(AFTER)"},
            {"name": "AFTER", "value": "x"},
        ]
    }
    env = await resolve_env(container, POD, _no_objects)
    assert env["PEER"] == "http://etcd-0.etcd:2380"
    assert env["LATER"] == "$(AFTER)"


async def test_missing_config_map_key_is_a_config_error() -> None:
    container = {
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]
    }
    with pytest.raises(EnvError, match='configmap "c" not found'):
        await resolve_env(container, POD, _no_objects)


async def test_secret_values_are_decoded() -> None:
    async def fetch(kind: str, ns: str, name: str) -> dict[str, Any] | None:
        return {"data": {"pw": "czNjcmV0"}} if kind == "Secret" else None

    container = {"env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}]}
    assert (await resolve_env(container, POD, fetch))["PW"] == "s3cret"
