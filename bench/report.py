"""The markdown table and the ratios to ``floor``."""

from __future__ import annotations

from typing import Any

RATE = "_events_per_s"


CPU = "_cpu_us_per_event"


def cpu_per_event(figures: dict[str, Any], prefix: str) -> float:
    """CPU microseconds per event of every process of a scenario (producer, consumer or
    workers, Redis) added up."""
    keys = [k for k in figures if k.startswith(prefix + "_") and k.endswith(CPU)]
    return float(sum(figures[k] for k in keys if k[len(prefix) + 1 : -len(CPU)].isalpha()))


def add_ratios(figures: dict[str, Any]) -> None:
    """Add ``<prefix>_ratio`` = ``<prefix>_events_per_s / floor_events_per_s`` for every rate,
    and ``<prefix>_cpu_ratio`` = floor CPU per event / the scenario's CPU per event (every
    process added up): steadier than the rate ratio when other load shares the machine."""
    floor = figures.get("floor" + RATE)
    if not floor:
        return
    floor_cpu = cpu_per_event(figures, "floor")
    for key in [k for k in figures if k.endswith(RATE) and k != "floor" + RATE]:
        prefix = key[: -len(RATE)]
        figures[prefix + "_ratio"] = round(figures[key] / floor, 3)
        cpu = cpu_per_event(figures, prefix)
        if cpu and floor_cpu:
            figures[prefix + "_cpu_ratio"] = round(floor_cpu / cpu, 3)


def _notes(prefix: str, f: dict[str, Any]) -> str:
    parts = []
    if f.get(prefix + "_cpu_ratio"):
        parts.append(f"CPU/event x floor {f[prefix + '_cpu_ratio']:.2f}")
    if prefix == "floor" and len(f.get("floor_runs", [])) > 1:
        parts.append("best of runs first and last: " + ", ".join(f"{r:,}" for r in f["floor_runs"]))
    if f.get(prefix + "_worker_rss_mb"):
        parts.append(f"worker RSS max {f[prefix + '_worker_rss_mb']:.1f} MB")
    if prefix == "e2e_traced" and "otlp_trace_requests" in f:
        parts.append(f"OTLP {f['otlp_trace_requests']} requests, {f['otlp_trace_bytes']:,} B")
    if prefix == "soak" and "soak_rss_first_mb" in f:
        parts.append(
            f"RSS {f['soak_rss_first_mb']:.1f} MB at {f['soak_checkpoint']:,}, "
            f"{f['soak_rss_last_mb']:.1f} MB at {f['soak_events']:,} "
            f"({f['soak_rss_growth']:+.1%})"
        )
    return "; ".join(parts)


def rows(figures: dict[str, Any]) -> list[list[str]]:
    """Table rows: scenario, events, seconds, events/s, x floor, notes."""
    out = []
    for key, value in figures.items():
        if not key.endswith(RATE):
            continue
        prefix = key[: -len(RATE)]
        ratio = figures.get(prefix + "_ratio")
        out.append(
            [
                prefix.replace("_", "-"),
                f"{figures.get(prefix + '_events', 0):,}",
                f"{figures.get(prefix + '_seconds', 0):.2f}",
                f"{value:,.0f}",
                "1.00" if prefix == "floor" else (f"{ratio:.2f}" if ratio is not None else ""),
                _notes(prefix, figures),
            ]
        )
    if "latency_p99_ms" in figures:
        f = figures
        out.append(
            [
                "latency",
                f"{f['latency_events']:,}",
                f"{f['latency_seconds']:.2f}",
                f"{f['latency_rate']:,} offered",
                "",
                f"p50 {f['latency_p50_ms']:.2f} ms, p99 {f['latency_p99_ms']:.2f} ms, "
                f"max {f['latency_max_ms']:.2f} ms",
            ]
        )
    if "admission_vs_plain_ratio" in figures:
        f = figures
        out.append(
            [
                "admission",
                f"{f['admission_events']:,}",
                "",
                f"{f['admission_fcall_eps']:,}",
                "",
                f"{f['admission_vs_plain_ratio']:.2f} x plain pipelined XADD "
                f"({f['admission_plain_xadd_eps']:,}/s), batch 500",
            ]
        )
    return out


def table(figures: dict[str, Any]) -> str:
    """The markdown table, preceded by a line naming the machine and versions."""
    head = ["scenario", "events", "seconds", "events/s", "x floor", "notes"]
    lines = [
        f"Redis {figures.get('redis_version')}, Python {figures.get('python_version')}, "
        f"redis-py {figures.get('redis_py_version')}, {figures.get('cores')} cores"
        + (" (--quick)" if figures.get("quick") else ""),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * 4 + ["---"]) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(figures)]
    return "\n".join(lines)
