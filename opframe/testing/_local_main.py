"""Process entry point of the background control plane (see :mod:`opframe.testing.local`).

``python -m opframe.testing._local_main --state-dir DIR [--no-kubelet] [--no-controllers]
[--ready-fd N] [--image PATTERN=PROGRAM ...]`` runs a
LocalCluster until SIGTERM or SIGINT, with ``DIR/kubeconfig`` and ``DIR/pid`` written while
it serves, and ``ready`` written on file descriptor N once the API server answers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
from pathlib import Path

from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet.images import parse_image_mapping

__all__ = ["main"]


async def _serve(
    state_dir: Path,
    kubelet: bool,
    ready_fd: int | None,
    images: dict[str, str],
    controllers: bool = True,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with LocalCluster(
        state_dir, kubelet=kubelet, controllers=controllers, images=images
    ) as cluster:
        target = state_dir / "kubeconfig"
        if cluster.kubeconfig.resolve() != target.resolve():
            shutil.copyfile(cluster.kubeconfig, target)
        (state_dir / "pid").write_text(f"{os.getpid()}\n")
        logging.getLogger("opframe.local").info(
            "control plane up: %s (kubeconfig %s)", cluster.api_server.url, target
        )
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
        try:
            await stop.wait()
        finally:
            (state_dir / "pid").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """Run the control plane in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="opframe-local-control-plane")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--no-kubelet", action="store_true")
    parser.add_argument("--no-controllers", action="store_true")
    parser.add_argument("--ready-fd", type=int)
    parser.add_argument("--image", action="append", default=[], metavar="PATTERN=PROGRAM")
    args = parser.parse_args(argv)
    images: dict[str, str] = {}
    for text in args.image:
        try:
            pattern, _ = parse_image_mapping(text)
        except ValueError as exc:
            parser.error(str(exc))
        images[pattern] = text.partition("=")[2]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(
        _serve(
            args.state_dir.resolve(),
            not args.no_kubelet,
            args.ready_fd,
            images,
            controllers=not args.no_controllers,
        )
    )


if __name__ == "__main__":
    main()
