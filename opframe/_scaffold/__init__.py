"""``opframe init NAME``: a new operator project that passes its own tests out of the box.

The project has a model, a reconciler, a manager, a ``__main__`` with ``opframe run``'s flags,
tests on opframe's pytest plugin, a Dockerfile, and a kustomize ``deploy/`` folder whose CRD
and RBAC are generated from the project's own code (so they name exactly what it watches).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from string import Template
from typing import Any

from opframe._scaffold.files import TEMPLATES
from opframe.crd import crd_yaml, dump_yaml
from opframe.errors import ConfigError
from opframe.leaderelection import LeaderElectionConfig
from opframe.manager import Manager
from opframe.rbac import rbac_documents as generate
from opframe.resource import Resource

__all__ = ["ScaffoldError", "init_project", "rbac_documents"]

_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,50}[a-z0-9])?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_GROUP = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")

class ScaffoldError(ConfigError):
    """The project cannot be made as asked (a bad name, a folder in the way)."""


def init_project(
    directory: Path, name: str, *, kind: str | None = None, group: str | None = None
) -> list[Path]:
    """Write the project ``name`` into ``directory`` (new or empty); return the files made."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"project name {name!r} must be a DNS label: lower-case letters, digits and '-', "
            "starting with a letter (e.g. shop-operator)"
        )
    base = name.removesuffix("-operator") or name
    kind = kind or "".join(part.capitalize() for part in base.split("-"))
    if not _KIND.match(kind):
        raise ScaffoldError(f"kind {kind!r} must be CamelCase letters and digits (e.g. Shop)")
    group = group or f"{base}.example.com"
    if not _GROUP.match(group):
        raise ScaffoldError(f"group {group!r} must be a DNS subdomain (e.g. shop.example.com)")
    if directory.exists() and any(directory.iterdir()):
        raise ScaffoldError(f"{directory} exists and is not empty: pick a new folder")
    from opframe import __version__

    values = {
        "name": name,
        "package": name.replace("-", "_"),
        "kind": kind,
        "lower": kind.lower(),
        "group": group,
        "opframe": __version__,
    }
    written: list[Path] = []
    for relative, text in TEMPLATES.items():
        path = directory / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
        written.append(path)
    model, manager = _load(directory, values["package"], kind)
    deploy = directory / "deploy"
    (deploy / "crd.yaml").write_text(crd_yaml(model))
    (deploy / "rbac.yaml").write_text(dump_yaml(rbac_documents(manager, name, f"{name}-system")))
    written += [deploy / "crd.yaml", deploy / "rbac.yaml"]
    return written


def _load(directory: Path, package: str, kind: str) -> tuple[type[Resource], Manager]:
    """Import the new project's model and manager (then forget them again).

    A module of the same name this process had imported already (another ``shop``) is set
    aside meanwhile and put back after: the new package must not resolve to it.
    """

    def ours(name: str) -> bool:
        return name == package or name.startswith(f"{package}.")

    shadowed = {m: sys.modules.pop(m) for m in [m for m in sys.modules if ours(m)]}
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()  # the directory was just written
    try:
        models = importlib.import_module(f"{package}.models")
        operator = importlib.import_module(f"{package}.operator")
        return getattr(models, kind), operator.build_manager()
    finally:
        sys.path.remove(str(directory))
        for loaded in [m for m in sys.modules if ours(m)]:
            del sys.modules[loaded]
        sys.modules.update(shadowed)


def rbac_documents(manager: Manager, name: str, namespace: str) -> list[dict[str, Any]]:
    """Least privilege for ``manager``, as ``opframe rbac generate`` derives it
    (:func:`opframe.rbac.rbac_documents`), with the Role for the Lease that the Deployment's
    ``--leader-elect`` takes in ``namespace``."""
    return generate(
        manager,
        name=name,
        service_account_namespace=namespace,
        leader_election=manager.leader_election or LeaderElectionConfig(name, namespace),
    )
