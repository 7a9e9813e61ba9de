"""``python -m etcd_operator``: ``run`` the operator, or print its ``crd``.

The demo on a local control plane is a separate package (``python -m etcd_operator_demo demo``),
so the operator image ships neither the embedded control plane nor etcd binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

__all__ = ["main"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m etcd_operator run",
        description="Run the etcd operator against a kubeconfig or in-cluster.",
    )
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, in-cluster")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--namespace", help="watch one namespace (default: all)")
    parser.add_argument(
        "--leader-elect", action="store_true", help="run with leader election on a Lease"
    )
    parser.add_argument("--lease-namespace", default="default", help="namespace of the Lease")
    parser.add_argument("--health-port", type=int, default=8081)
    parser.add_argument("--metrics-port", type=int, default=8080)
    parser.add_argument(
        "--bind-address", default="0.0.0.0", help="address of the health and metrics servers"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from etcd_operator.operator import build_manager
    from opframe import Client

    async def main() -> None:
        client = await Client.default(kubeconfig=args.kubeconfig, context=args.context)
        async with client:
            manager = build_manager(
                client,
                namespace=args.namespace,
                leader_election_namespace=args.lease_namespace if args.leader_elect else None,
                health_address=(args.bind_address, args.health_port),
                metrics_address=(args.bind_address, args.metrics_port),
            )
            await manager.run()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    return 0


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
