"""``python -m etcd_operator``: ``run`` the operator, or print its ``crd``.

The demo on a local control plane is a separate package (``python -m etcd_operator_demo demo``),
so the operator image ships neither the embedded control plane nor etcd binaries.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _run(argv: list[str]) -> int:
    from etcd_operator.operator import build_manager
    from opframe import Client, Manager, RunOptions, run_main

    parser = argparse.ArgumentParser(
        prog="python -m etcd_operator run",
        description="Run the etcd operator against a kubeconfig or in-cluster.",
    )
    RunOptions.add_arguments(parser)
    # In its pod the probes come from the kubelet: listen on every address by default.
    parser.set_defaults(bind_address="0.0.0.0", lease_name="etcd-operator")
    options = RunOptions.from_args(parser.parse_args(argv))

    def make(client: Client) -> Manager:
        # Leader election, ports and namespace come from the flags (run_main applies them).
        return build_manager(client, namespace=options.namespace)

    return run_main(make, options, name="etcd-operator", prog="etcd-operator")


def _crd(argv: list[str]) -> int:
    from etcd_operator.models import EtcdCluster
    from opframe import crd_yaml

    sys.stdout.write(crd_yaml(EtcdCluster))
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
        print("usage: python -m etcd_operator {run,crd} [options]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while still importing: nothing was started yet
        sys.exit(130)
