"""The ``opframe`` command: CRD generation, the local control plane, running a manager.

    opframe crd generate myoperator.models:MyResource > crd.yaml
    opframe crd generate myoperator.models --output-dir deploy/crds
    opframe local up            # prints the kubeconfig path
    opframe run myoperator.main:manager
    opframe init shop-operator  # a new operator project
    opframe webhook generate myoperator.main:manager --service web-system/web-webhook \
        --ca-bundle-file ca.crt    # Validating/MutatingWebhookConfigurations

Errors are one line on stderr that names the module, class or model at fault, with exit
code 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from opframe.crd import crds_for, dump_yaml
from opframe.errors import OpframeError, SchemaError
from opframe.manager import Manager
from opframe.resource import Resource
from opframe.runner import RunOptions, StartupError, _check_target, run_main

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

    crd = _command_group(commands, "crd", "CustomResourceDefinitions")
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
    conversion = generate.add_argument_group(
        "conversion webhook",
        "CRDs of several versions get spec.conversion.strategy: Webhook calling /convert",
    )
    _add_client_config_arguments(conversion, prefix="conversion-")
    generate.set_defaults(command=_crd_generate)

    local = _command_group(commands, "local", "the local control plane")
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

    init = commands.add_parser(
        "init",
        help="start an operator project",
        description=(
            "Make a new operator project in ./NAME (or --dir): a model, a reconciler, a "
            "manager, tests on opframe's pytest plugin, a Dockerfile and a kustomize deploy/ "
            "folder with its generated CRD and RBAC. Its tests pass as made: pytest -q."
        ),
    )
    init.add_argument("name", metavar="NAME", help="the project, a DNS label (shop-operator)")
    init.add_argument("--kind", help="the custom resource's kind (default: from NAME)")
    init.add_argument("--group", help="its API group (default: <name>.example.com)")
    init.add_argument("--dir", type=Path, help="where to write it (default: ./NAME)")
    init.set_defaults(command=_init)

    run = _manager_command(
        commands,
        "run",
        _run,
        help="run a Manager",
        description=(
            "Import ATTR from MODULE: a Manager, or a function (plain or async, taking nothing "
            "or the Client) returning one, check that the cluster serves what it watches, and "
            "run it until SIGTERM or SIGINT."
        ),
    )
    RunOptions.add_arguments(run)
    _add_rbac_parser(commands)
    _add_webhook_parser(commands)
    _add_policy_parser(commands)
    return parser


# --- webhook generate -------------------------------------------------------------------------


def _add_client_config_arguments(group: Any, prefix: str = "") -> None:
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        f"--{prefix}service",
        metavar="NAMESPACE/NAME[:PORT]",
        help="the Service in front of the webhook server (port default 443)",
    )
    where.add_argument(
        f"--{prefix}url", metavar="https://HOST:PORT", help="call this base URL instead"
    )
    ca = group.add_mutually_exclusive_group()
    ca.add_argument("--ca-bundle-file", type=Path, help="PEM CA that signed the certificate")
    ca.add_argument(
        "--cert-manager",
        metavar="NAMESPACE/CERTIFICATE",
        help="let cert-manager inject the CA bundle from this Certificate",
    )


def _add_webhook_parser(commands: Any) -> None:
    webhook = _command_group(commands, "webhook", "admission and conversion webhooks")
    generate = _manager_command(
        webhook,
        "generate",
        _webhook_generate,
        help="print the webhook configurations for the webhooks a manager serves",
        description=(
            "Import ATTR from MODULE: a Manager (or a function taking nothing that returns "
            "one); print a ValidatingWebhookConfiguration and a MutatingWebhookConfiguration "
            "for the webhooks added with Manager.add_webhook, as YAML."
        ),
    )
    generate.add_argument("--name", help="configuration name prefix (default: the package)")
    _add_client_config_arguments(generate)


def _client_config(args: argparse.Namespace, prefix: str = "") -> Any:
    from opframe.webhook import ClientConfig, ServiceReference

    service = getattr(args, f"{prefix}service")
    url = getattr(args, f"{prefix}url")
    if service is None and url is None:
        return None
    ca = None
    if args.ca_bundle_file is not None:
        try:
            ca = args.ca_bundle_file.read_bytes()
        except OSError as exc:
            raise CliError(f"--ca-bundle-file: {exc.strerror}: {args.ca_bundle_file}") from None
        if b"-----BEGIN CERTIFICATE-----" not in ca:
            raise CliError(f"--ca-bundle-file {args.ca_bundle_file} holds no PEM certificate")
    option = f"--{prefix.replace('_', '-')}"
    if service is not None:
        namespace, _, rest = service.partition("/")
        name, _, port = rest.partition(":")
        if not namespace or not name or (port and not port.isdigit()):
            raise CliError(f"{option}service {service!r}: expected NAMESPACE/NAME[:PORT]")
        return ClientConfig(
            service=ServiceReference(name, namespace, int(port) if port else 443), ca_bundle=ca
        )
    try:
        return ClientConfig(url=url, ca_bundle=ca)
    except ValueError as exc:
        raise CliError(f"{option}url: {exc}") from None


def _webhook_generate(args: argparse.Namespace) -> int:
    from opframe.webhook import webhook_configurations

    target = rbac_target(args.target)
    if not isinstance(target, Manager):
        raise CliError(f"{args.target} is a {type(target).__name__}, not a Manager")
    client_config = _client_config(args)
    if client_config is None:
        raise CliError("say where the API server reaches the webhooks: --service or --url")
    name = _default_name(args)
    return _print_documents(
        args.target,
        lambda: webhook_configurations(
            target, name=name, client_config=client_config, cert_manager=args.cert_manager
        ),
    )


# --- policy generate --------------------------------------------------------------------------


def _add_policy_parser(commands: Any) -> None:
    policy = _command_group(commands, "policy", "ValidatingAdmissionPolicies")
    generate = _manager_command(
        policy,
        "generate",
        _policy_generate,
        help="print ValidatingAdmissionPolicies guarding an operator's children or fields",
        description=(
            "Import ATTR from MODULE: a Manager, a Controller, a list of Controllers (their "
            "owned kinds may be changed only by the operator's service account) or a Resource "
            "class (its CEL rules and constraints, checked for everyone but the operator); "
            "print each policy and its binding as YAML."
        ),
    )
    generate.add_argument(
        "--service-account", required=True, metavar="NAMESPACE:NAME", help="the operator's"
    )
    generate.add_argument(
        "--action",
        action="append",
        choices=("Deny", "Warn", "Audit"),
        help="validationActions of the bindings (default: Deny)",
    )


def _policy_generate(args: argparse.Namespace) -> int:
    from opframe.policy import policy_documents

    target = rbac_target(args.target)
    return _print_documents(
        args.target,
        lambda: policy_documents(
            target, service_account=args.service_account, actions=args.action or ("Deny",)
        ),
    )


# --- rbac generate ----------------------------------------------------------------------------


def _add_rbac_parser(commands: Any) -> None:
    rbac = _command_group(commands, "rbac", "RBAC for an operator")
    generate = _manager_command(
        rbac,
        "generate",
        _rbac_generate,
        help="print the RBAC an operator needs, from what its controllers declare",
        description=(
            "Import ATTR from MODULE: a Manager, a Controller, a list of Controllers, or a "
            "function taking nothing that returns one; print its ServiceAccount, ClusterRole "
            "(Role with --watch-namespace) and bindings, and the leader-election Role, as YAML. "
            "Watched kinds get get/list/watch, Controller.permits adds the writes, Events get "
            "create/patch, the Lease get/create/update."
        ),
    )
    generate.add_argument("--name", help="name of the roles (default: the module's package)")
    generate.add_argument(
        "--namespace",
        "-n",
        default="default",
        help="the ServiceAccount's namespace (default: default)",
    )
    generate.add_argument("--service-account", default="", help="default: --name")
    generate.add_argument(
        "--leader-election-namespace",
        default=None,
        help="namespace of the leader-election Lease (adds its Role)",
    )
    generate.add_argument("--lease-name", default="", help="(with the above) the Lease name")
    generate.add_argument(
        "--watch-namespace",
        default=None,
        help="the operator watches one namespace: a Role, not a ClusterRole",
    )


def rbac_target(target: str) -> Any:
    """The Manager or Controllers ``MODULE:ATTR`` names (a factory is called)."""
    from opframe.controller import Controller

    module_name, _, attr = target.partition(":")
    if not attr:
        raise CliError(f"expected MODULE:ATTR (e.g. {module_name or 'mymodule'}:manager)")
    value = _attribute(_import(module_name), attr)
    if callable(value) and not isinstance(value, (Manager, Controller, type)):
        try:
            value = value()
        except TypeError as exc:
            raise CliError(f"{target} must take no arguments to be called: {exc}") from None
    return value


def _rbac_generate(args: argparse.Namespace) -> int:
    from opframe.leaderelection import LeaderElectionConfig
    from opframe.rbac import rbac_documents

    target = rbac_target(args.target)
    name = _default_name(args)
    election = None
    if args.leader_election_namespace:
        election = LeaderElectionConfig(
            name=args.lease_name or name, namespace=args.leader_election_namespace
        )
    return _print_documents(
        args.target,
        lambda: rbac_documents(
            target,
            name=name,
            service_account_namespace=args.namespace,
            service_account=args.service_account,
            leader_election=election,
            namespace=args.watch_namespace,
        ),
    )


def _default_name(args: argparse.Namespace) -> str:
    """``--name``, else the target's top-level package (``my_op.main:manager`` -> ``my-op``)."""
    return str(args.name or args.target.partition(":")[0].split(".")[0].replace("_", "-"))


def _print_documents(target: str, build: Callable[[], Iterable[dict[str, Any]]]) -> int:
    """Print what ``build`` makes for ``target`` as YAML; its Type/ValueError is a user error."""
    try:
        docs = build()
    except (TypeError, ValueError) as exc:
        raise CliError(f"{target}: {exc}") from None
    sys.stdout.write(dump_yaml(docs))
    return 0


def _manager_command(
    commands: Any, name: str, command: Any, help: str, description: str
) -> argparse.ArgumentParser:
    """Add command ``name``, run by ``command``, whose argument is the ``MODULE:ATTR`` of a
    Manager (or of what the command's description says it takes)."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    parser.add_argument("target", metavar="MODULE:ATTR")
    parser.set_defaults(command=command)
    return parser


def _command_group(commands: Any, name: str, help: str) -> Any:
    """Add command ``name`` that holds subcommands (alone it prints its usage); returns them."""
    parser = commands.add_parser(name, help=help)
    parser.set_defaults(command=lambda _: _usage(parser))
    return parser.add_subparsers(title=f"{name} commands", metavar="COMMAND")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --- crd generate -----------------------------------------------------------------------------


def _crd_generate(args: argparse.Namespace) -> int:
    models: list[type[Resource]] = []
    for target in args.targets:
        models.extend(m for m in load_resources(target) if m not in models)
    conversion = _client_config(args, prefix="conversion_")
    if conversion is None and (args.ca_bundle_file or args.cert_manager):
        raise CliError("--ca-bundle-file/--cert-manager need --conversion-service or -url")
    try:
        crds = crds_for(*models, conversion=conversion)
    except SchemaError as exc:
        raise CliError(f"cannot generate a CRD: {exc}") from exc
    if args.cert_manager:
        from opframe.webhook import CERT_MANAGER_INJECT

        for crd in crds:
            if "conversion" in crd["spec"]:
                crd["metadata"]["annotations"] = {CERT_MANAGER_INJECT: args.cert_manager}
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
        raise CliError(f"cannot import module {module_name!r}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    """An import failure in one line: where in the user's code, and what.

    opframe words its own refusals for users (a sync reconciler, a bad model), so they are
    shown as they are; anything else keeps its type, which is part of the story.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    package = str(Path(__file__).resolve().parent)
    own = bool(frames) and str(Path(frames[-1].filename).resolve()).startswith(package)
    user = [
        f
        for f in frames
        if not f.filename.startswith("<")  # generated code (a dataclass __init__)
        and not str(Path(f.filename).resolve()).startswith(package)
        and "importlib" not in f.filename
    ]
    where = f"{Path(user[-1].filename).name} line {user[-1].lineno}: " if user else ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{Path(exc.filename).name} line {exc.lineno}: "
        return f"{where}SyntaxError: {exc.msg}"
    what = str(exc) if own or isinstance(exc, OpframeError) else f"{type(exc).__name__}: {exc}"
    return where + what


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


# --- init -------------------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    from opframe._scaffold import init_project

    directory: Path = args.dir or Path(args.name)
    try:
        init_project(directory, args.name, kind=args.kind, group=args.group)
    except OpframeError as exc:
        raise CliError(str(exc)) from exc
    package = args.name.replace("-", "_")
    print(f"created {directory}/: cd {directory} && pip install -e '.[test]' && pytest -q")
    print(f"run it against your cluster: python -m {package}", file=sys.stderr)
    return 0


# --- run --------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    module_name, _, attr = args.target.partition(":")
    if not attr:
        raise CliError(
            f"expected MODULE:ATTR (e.g. {args.target or 'mymodule'}:manager), got {args.target!r}"
        )
    module = _import(module_name)
    target = _attribute(module, attr)
    managers = [n for n, v in vars(module).items() if isinstance(v, Manager)]
    hint = f"{module_name}:{managers[0]}" if managers else ""
    try:
        _check_target(target, args.target, hint)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    return run_main(target, RunOptions.from_args(args), name=args.target, prog="opframe")
