"""The etcd operator as a separate process for the chaos suite, so it can be SIGKILLed and
SIGSTOPped for real: ``python operator_proc.py KUBECONFIG [--leader-elect IDENTITY]``.

It runs the operator's own manager and reconciler with the e2e suite's short deadlines, and a
short Lease (4 s) when leader-elected, and prints ``leading`` once its controllers run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from etcd_operator.operator import build_controller
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler

from opframe import Client, LeaderElectionConfig, Manager

POLICY = Policy(member_start_deadline=30.0, unhealthy_grace=3.0)


async def _main(kubeconfig: str, identity: str | None) -> None:
    client = await Client.from_kubeconfig(kubeconfig)
    election = (
        LeaderElectionConfig(
            name="etcd-operator-chaos",
            identity=identity,
            lease_duration=4.0,
            renew_deadline=3.0,
            retry_period=0.5,
        )
        if identity
        else None
    )
    async with client:
        manager = Manager(
            client, leader_election=election, health_address=None, metrics_address=None
        )
        reconciler = EtcdClusterReconciler(POLICY, steady_interval=1.0, busy_interval=0.3)
        manager.add(build_controller(reconciler=reconciler))
        run = asyncio.create_task(manager.run())
        await manager.wait_started()
        print("leading", flush=True)
        await run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("--leader-elect", metavar="IDENTITY")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(_main(args.kubeconfig, args.leader_elect))
    return 0


if __name__ == "__main__":
    sys.exit(main())
