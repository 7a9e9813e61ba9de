"""``python -m etcd_operator_demo demo``: the etcd operator's demo on a local control plane."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``demo`` (the only command)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "demo":
        argv = argv[1:]
    elif argv and argv[0] not in ("-h", "--help") and not argv[0].startswith("--"):
        print("usage: python -m etcd_operator_demo demo [options]", file=sys.stderr)
        return 2
    from etcd_operator_demo.demo import main as demo

    return demo(argv)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while still importing: nothing was started yet
        sys.exit(130)
