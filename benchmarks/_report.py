"""The figures of the production sections, printed next to their targets (issue 19)."""

from __future__ import annotations

from typing import Any

__all__ = ["production_rows"]

Row = tuple[str, str, str]


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def production_rows(r: dict[str, Any]) -> list[Row]:
    """Rows of (measure, value, target) for whichever production sections ran."""
    rows: list[Row] = []
    if "scale_objects" in r:
        ratio = r["scale_rss_bytes"] / r["scale_json_bytes"]
        kopf = r["scale_kopf_startup_to_all_s"]
        reached = r["scale_kopf_reached"]
        rows += [
            ("scale: objects", f"{r['scale_objects']:,}", "100,000"),
            ("  startup -> first reconcile", _s(r["scale_startup_to_first_s"]), ""),
            ("  startup -> all reconciled", _s(r["scale_startup_to_all_s"]), "< 15 s"),
            ("  operator peak RSS", _mib(r["scale_rss_bytes"]), ""),
            ("  objects' JSON", _mib(r["scale_json_bytes"]), ""),
            ("  RSS / JSON", f"{ratio:.2f}x", "< 2x"),
            (
                "  kopf startup -> all",
                _s(kopf)
                if kopf is not None
                else f"not within {r['scale_kopf_deadline_s']:.0f} s ({reached} reached)",
                "",
            ),
            ("  kopf peak RSS", _mib(r["scale_kopf_rss_bytes"]), ""),
        ]
    if "children_parents" in r:
        rows += [
            (
                "children: parents x children",
                f"{r['children_parents']:,} x {r['children_per_parent']}",
                "10,000 x 3",
            ),
            ("  startup -> all reconciled (work)", _s(r["children_startup_to_all_s"]), ""),
            (
                "  operator peak RSS / JSON",
                f"{_mib(r['children_rss_bytes'])} / {_mib(r['children_json_bytes'])}",
                "",
            ),
            ("  kopf startup -> all (work)", _s(r["children_kopf_startup_to_all_s"]), ""),
        ]
        for rate, fig in r["work_by_rate"].items():
            ours, kopf = fig.get("opframe_reconciles_per_s"), fig.get("kopf_reconciles_per_s")
            ratio = f" ({ours / kopf:.1f}x)" if ours and kopf else ""
            rows += [
                (f"work at {int(rate):,} spec changes/s", "", ""),
                (
                    "  achieved load opframe / kopf",
                    f"{fig.get('opframe_achieved_rate')} / {fig.get('kopf_achieved_rate')}",
                    "",
                ),
                (
                    "  reconciles/s opframe / kopf",
                    f"{ours} / {kopf}{ratio}",
                    ">= 10x kopf",
                ),
                (
                    "  event -> reconcile p50 / p99",
                    f"{fig.get('latency_p50_ms')} / {fig.get('latency_p99_ms')} ms",
                    "p99 < 50 ms at 1,000/s",
                ),
                (
                    "  CPU ms per change: server / operator",
                    f"{fig.get('server_cpu_ms_per_change')} / "
                    f"{fig.get('operator_cpu_ms_per_reconcile')}",
                    "",
                ),
            ]
    if "controllers" in r:
        rows += [
            (
                f"{r['controllers']} controllers: informers",
                f"{r['controllers_informers']} (1 controller: {r['controllers_one_informers']})",
                "not multiplied",
            ),
            (
                "  peak RSS",
                f"{_mib(r['controllers_rss_bytes'])} (1: {_mib(r['controllers_one_rss_bytes'])})",
                "not multiplied",
            ),
        ]
    if "etcd_clusters_created" in r:
        rows += [
            (
                f"etcd: {r['etcd_clusters_created']} clusters of {r['etcd_cluster_size']} "
                "Available",
                _s(r["etcd_all_available_s"]),
                "< 30 s",
            ),
            ("  every member of every cluster ready", _s(r.get("etcd_all_ready_s")), ""),
            (
                f"  operator CPU, {r['etcd_idle_clusters']} idle clusters",
                f"{r['etcd_idle_cpu_fraction']:.2%} of a core",
                "< 2%",
            ),
        ]
    sizes = [
        k.removeprefix("backup_").removesuffix("mb_mb_per_s")
        for k in r
        if k.startswith("backup_") and k.endswith("mb_mb_per_s")
    ]
    for size in sorted(sizes, key=int):
        key = f"backup_{size}mb_mb_per_s"
        rows += [
            (f"backup: {size} MB database to S3 (moto)", f"{r[key]:.1f} MB/s", ""),
            (
                "  snapshot stream alone",
                f"{r[f'backup_{size}mb_snapshot_only_mb_per_s']:.0f} MB/s",
                "",
            ),
            (
                "  peak Python allocations / RSS",
                f"{r[f'backup_{size}mb_peak_python_mib']:.1f} / "
                f"{r[f'backup_{size}mb_peak_rss_mib']:.0f} MiB",
                "flat in DB size",
            ),
        ]
    return rows
