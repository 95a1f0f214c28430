"""The markdown table, and CPU per event summed over a scenario's processes."""

from __future__ import annotations

from typing import Any

RATE = "_events_per_s"
BASELINE = "_floor_baseline"


CPU = "_cpu_us_per_event"


def cpu_per_event(figures: dict[str, Any], prefix: str) -> float:
    """CPU microseconds per event of every process of a scenario (producer, consumer or
    workers, Redis) added up."""
    keys = [k for k in figures if k.startswith(prefix + "_") and k.endswith(CPU)]
    return float(sum(figures[k] for k in keys if k[len(prefix) + 1 : -len(CPU)].isalpha()))


def _notes(prefix: str, f: dict[str, Any]) -> str:
    parts = []
    if f.get(prefix + "_cpu_ratio"):
        parts.append(f"CPU/event x floor {f[prefix + '_cpu_ratio']:.2f}")
    if prefix == "floor" and len(f.get("floor_runs", [])) > 1:
        parts.append("best of " + ", ".join(f"{r:,}" for r in f["floor_runs"]))
    elif f.get(prefix + BASELINE):
        parts.append(f"vs adjacent floor {f[prefix + BASELINE]:,}/s")
    if f.get(prefix + "_worker_rss_mb"):
        parts.append(f"worker RSS max {f[prefix + '_worker_rss_mb']:.1f} MB")
    if prefix + "_otlp_trace_requests" in f:
        requests, sent = f[prefix + "_otlp_trace_requests"], f[prefix + "_otlp_trace_bytes"]
        parts.append(f"OTLP {requests} requests, {sent:,} B")
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
    rates = sorted((k for k in figures if k.endswith(RATE)), key=lambda k: k != "floor" + RATE)
    for key in rates:
        value = figures[key]
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
    if "recovery_taken_over_s" in figures:
        f = figures
        out.append(
            [
                "recovery",
                f"{f['recovery_entries']:,}",
                f"{f['recovery_handled_s']:.2f}",
                "",
                "",
                f"SIGKILL -> taken over {f['recovery_taken_over_s']:.2f} s, handled "
                f"{f['recovery_handled_s']:.2f} s (defaults: liveness TTL 5 s; target 10 s)",
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
    for batch in (500, 50):
        key = f"durable_vs_plain_ratio_{batch}"
        if key in figures:
            f = figures
            out.append(
                [
                    f"durable-{batch}",
                    f"{f['durable_events']:,}",
                    "",
                    f"{f[f'durable_wait_eps_{batch}']:,}",
                    "",
                    f"{f[key]:.2f} x plain produce ({f[f'durable_plain_eps_{batch}']:,}/s), "
                    f"--min-replicas 1, one replica, batch {batch}",
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
