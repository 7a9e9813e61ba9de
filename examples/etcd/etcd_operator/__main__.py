"""``python -m etcd_operator``: ``run`` the operator, or print its ``crd``.

The demo on a local control plane is a separate package (``python -m etcd_operator_demo demo``),
so the operator image ships neither the embedded control plane nor etcd binaries.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _run(argv: list[str]) -> int:
    from etcd_operator.operator import backups_served, build_manager
    from opframe import Client, Manager, RunOptions, run_main

    parser = argparse.ArgumentParser(
        prog="python -m etcd_operator run",
        description="Run the etcd operator against a kubeconfig or in-cluster.",
    )
    RunOptions.add_arguments(parser)
    parser.add_argument(
        "--backups",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the EtcdBackup and backup schedule controllers (default; they stay off, "
        "with one log line saying so, while the EtcdBackup CRD deploy/crd-backup.yaml is not "
        "installed)",
    )
    # In its pod the probes come from the kubelet: listen on every address by default.
    parser.set_defaults(bind_address="0.0.0.0", lease_name="etcd-operator")
    args = parser.parse_args(argv)
    options = RunOptions.from_args(args)

    async def make(client: Client) -> Manager:
        # Leader election, ports and namespace come from the flags (run_main applies them).
        backups = args.backups and await backups_served(client, options.namespace)
        return build_manager(client, namespace=options.namespace, backups=backups)

    return run_main(make, options, name="etcd-operator", prog="etcd-operator")


def _crd(argv: list[str]) -> int:
    from etcd_operator.backup.models import EtcdBackup
    from etcd_operator.models import EtcdCluster
    from opframe import crd_yaml

    # `crd` prints deploy/crd.yaml, `crd backup` deploy/crd-backup.yaml.
    sys.stdout.write(crd_yaml(EtcdBackup if argv[:1] == ["backup"] else EtcdCluster))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``run`` or ``crd``."""
    argv = sys.argv[1:] if argv is None else argv
    commands = {"run": _run, "crd": _crd}
    if argv and argv[0] == "demo":
        print(
            "the demo is its own package: run ./run demo (or python -m etcd_operator_demo demo)",
            file=sys.stderr,
        )
        return 2
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: python -m etcd_operator {run,crd [backup]} [options]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while still importing: nothing was started yet
        sys.exit(130)
