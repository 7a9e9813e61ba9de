"""The ``opframe`` command: CRD generation, the local control plane, running a manager.

    opframe crd generate myoperator.models:MyResource > crd.yaml
    opframe crd generate myoperator.models --output-dir deploy/crds
    opframe local up            # prints the kubeconfig path
    opframe run myoperator.main:manager

Errors are one line on stderr that names the module, class or model at fault, with exit
code 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from opframe.crd import crds_for, dump_yaml
from opframe.errors import OpframeError, SchemaError
from opframe.resource import Resource

__all__ = ["CliError", "load_resources", "main"]


class CliError(OpframeError):
    """A command failed for a reason the message explains; the CLI prints it and exits 1."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``opframe`` command on ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        return _usage(parser)
    try:
        return int(args.command(args))
    except CliError as exc:
        print(f"opframe: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opframe", description="Kubernetes operators in Python with asyncio."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    crd_parser = commands.add_parser("crd", help="CustomResourceDefinitions")
    crd_parser.set_defaults(command=lambda _: _usage(crd_parser))
    crd = crd_parser.add_subparsers(title="crd commands", metavar="COMMAND")
    generate = crd.add_parser(
        "generate",
        help="generate CRDs from Resource models",
        description=(
            "Print one YAML document per CRD (versions of one kind merged), or write one file "
            "per CRD named <plural>.<group>.yaml. A bare MODULE stands for every custom "
            "Resource class defined in it."
        ),
    )
    generate.add_argument("targets", nargs="+", metavar="MODULE[:CLASS]")
    generate.add_argument("--output-dir", "-o", type=Path, help="write files here, not stdout")
    generate.set_defaults(command=_crd_generate)

    local_parser = commands.add_parser("local", help="the local control plane")
    local_parser.set_defaults(command=lambda _: _usage(local_parser))
    local = local_parser.add_subparsers(title="local commands", metavar="COMMAND")
    up = local.add_parser("up", help="start the API server (and kubelet); print the kubeconfig")
    up.add_argument("--state-dir", type=Path, help="where state, logs and kubeconfig live")
    up.add_argument("--no-kubelet", action="store_true", help="API server only, no pods run")
    up.add_argument(
        "--no-controllers",
        action="store_true",
        help="no Deployment/StatefulSet/Job/... controllers: objects are only stored",
    )
    up.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PATTERN=PROGRAM",
        help="run images matching PATTERN with PROGRAM ('ENTRYPOINT... [-- CMD...]' or 'host')",
    )
    up.set_defaults(command=_local_up)
    down = local.add_parser("down", help="stop the local control plane")
    down.add_argument("--state-dir", type=Path, help="the directory given to 'local up'")
    down.set_defaults(command=_local_down)

    run = commands.add_parser(
        "run",
        help="run a Manager",
        description=(
            "Import ATTR from MODULE: a Manager, or a function (plain or async) returning one, "
            "and run it until SIGTERM or SIGINT."
        ),
    )
    run.add_argument("target", metavar="MODULE:ATTR")
    run.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="root log level (default INFO)",
    )
    run.set_defaults(command=_run)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --- crd generate -----------------------------------------------------------------------------


def _crd_generate(args: argparse.Namespace) -> int:
    models: list[type[Resource]] = []
    for target in args.targets:
        models.extend(m for m in load_resources(target) if m not in models)
    try:
        crds = crds_for(*models)
    except SchemaError as exc:
        raise CliError(f"cannot generate a CRD: {exc}") from exc
    if args.output_dir is None:
        sys.stdout.write(dump_yaml(crds))
        return 0
    out_dir: Path = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for crd in crds:
        path = out_dir / f"{crd['metadata']['name']}.yaml"
        path.write_text(dump_yaml([crd]))
        print(path)
    return 0


def load_resources(target: str) -> list[type[Resource]]:
    """The custom Resource classes ``target`` names: ``module:Class`` or a whole ``module``.

    Raises:
        CliError: the module cannot be imported, the class is missing or not a custom
            Resource, or the module defines none.
    """
    module_name, _, attr = target.partition(":")
    module = _import(module_name)
    if attr:
        obj = _attribute(module, attr)
        info = getattr(obj, "__resource__", None)
        if not (isinstance(obj, type) and issubclass(obj, Resource)) or info is None:
            raise CliError(f"{target} is not a Resource class with a declared version")
        if info.builtin:
            raise CliError(f"{target} is a built-in kind ({info.api_version} {info.kind}); no CRD")
        return [obj]
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Resource)
        and obj.__module__ == module.__name__
        # Declared here, not inherited: a subclass without keywords is the same resource.
        and "__resource__" in obj.__dict__
        and not obj.__resource__.builtin
    ]
    if not found:
        raise CliError(f"module {module_name!r} defines no custom Resource classes")
    return found


def _import(module_name: str) -> ModuleType:
    if not module_name:
        raise CliError("empty module name; expected MODULE or MODULE:ATTR")
    # Like `python -m`, find modules of the project the command runs in.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise CliError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _attribute(module: ModuleType, attr: str) -> Any:
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CliError(f"module {module.__name__!r} has no attribute {attr!r}") from None
    return obj


# --- local up / down --------------------------------------------------------------------------


def _local_module() -> Any:
    try:
        return importlib.import_module("opframe.testing.local")
    except ImportError as exc:
        raise CliError(
            f"the local control plane is not available ({exc}); install opframe[testing]"
        ) from exc


def _local_up(args: argparse.Namespace) -> int:
    try:
        kubeconfig = _call_local(
            _local_module().up,
            args.state_dir,
            kubelet=not args.no_kubelet,
            controllers=not args.no_controllers,
            images=args.image,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(kubeconfig)
    print(f"export KUBECONFIG={kubeconfig}", file=sys.stderr)
    return 0


def _local_down(args: argparse.Namespace) -> int:
    _call_local(_local_module().down, args.state_dir)
    return 0


def _call_local(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except OpframeError as exc:
        raise CliError(str(exc)) from exc


# --- run --------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    module_name, _, attr = args.target.partition(":")
    if not attr:
        raise CliError(f"expected MODULE:ATTR, got {args.target!r}")
    target = _attribute(_import(module_name), attr)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_run_manager(target, args.target))
    return 0


async def _run_manager(target: Any, name: str) -> None:
    manager = target
    # A class (Manager subclass) or a function builds the manager; an instance is used as is.
    if isinstance(manager, type) or (not hasattr(manager, "run") and callable(manager)):
        manager = manager()
        if inspect.isawaitable(manager):
            manager = await manager
    run = getattr(manager, "run", None)
    if run is None or not inspect.iscoroutinefunction(run):
        raise CliError(
            f"{name} is not a Manager (an object with 'async def run()') "
            "nor a function returning one"
        )
    await run()
