"""Turn a run's results into the stdout table, results.json and the PNG plots.

The table is for people comparing the three ways side by side; results.json holds the same numbers (and more) for
scripts and for copying into docs/performance.md. Plots need matplotlib (in the ``dev`` extra); a runtime-only
install still completes the run and says in one line that it skipped them.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.media import SIZE_CLASSES
from bench.stats import clean

CLASS_TITLES = {"small": "small", "medium": "medium", "large": "large", "overall": "overall"}


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The result without the raw per-object series (keys starting with ``_``), NaN as null."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not str(k).startswith("_")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    cleaned = clean(strip(result))
    if not isinstance(cleaned, dict):
        raise TypeError("a result is a dict")
    return cleaned


def write_json(result: dict[str, Any], path: Path) -> str:
    text = json.dumps(public(result), indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return text


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    cells = [list(header), *[[_fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return lines


def render(result: dict[str, Any]) -> str:
    """The human-readable report: one section per question the benchmark answers."""
    meta = result["meta"]
    lines = [
        f"media-ingest benchmark  {meta['started']}  {meta['machine']}",
        f"mix: {meta['mix_text']}",
        f"sharing: {meta['sharing']}",
    ]
    for section in (_throughput, _cpu, _latency, _stages, _memory, _cores, _ratios, _problems):
        body = section(result)
        if body:
            lines += ["", *body]
    return "\n".join(lines)


def _classes(result: dict[str, Any]) -> list[str]:
    return [c for c in SIZE_CLASSES if c in result["limit"]] + ["overall"]


def _pipeline_phase(result: dict[str, Any], c: str) -> dict[str, Any]:
    pipe = result["pipeline"]
    phase: dict[str, Any] = pipe["burst"] if c == "overall" else pipe["by_class"].get(c, {})
    return phase


def _pair(objects: Any, mb: Any) -> str:
    return f"{_fmt(objects)} ({_fmt(mb)})" if objects is not None else "-"


def _throughput(result: dict[str, Any]) -> list[str]:
    limit, naive, upload = result["limit"], result.get("naive", {}), result.get("upload_only")
    classes = _classes(result)
    rows = [
        ["limit: c2pa from memory, per core"]
        + [_pair(limit[c]["objects_per_s_per_core"], limit[c]["mb_per_s_per_core"]) for c in classes],
        ["naive: 1 process, sequential"]
        + [_pair(naive[c]["objects_per_s"], naive[c]["mb_per_s"]) if c in naive else "-" for c in classes],
        [f"pipeline: {result['meta']['workers']} workers, burst incl. upload"]
        + [
            _pair(_pipeline_phase(result, c).get("objects_per_s"), _pipeline_phase(result, c).get("mb_per_s"))
            for c in classes
        ],
    ]
    if upload:
        rows.append(
            ["upload only (PUTs, no events)"]
            + ["-"] * (len(classes) - 1)
            + [_pair(upload["objects_per_s"], upload["mb_per_s"])]
        )
    return [
        "THROUGHPUT  objects/s (MB/s); pipeline per class = a burst of that class alone",
        *_table(["", *classes], rows),
    ]


def _cpu(result: dict[str, Any]) -> list[str]:
    limit, naive, upload = result["limit"], result.get("naive", {}), result.get("upload_only")
    classes = _classes(result)
    only_overall = ["-"] * (len(classes) - 1)

    def pipeline_row(title: str, pick: Any) -> list[Any]:
        return [title] + [pick(_pipeline_phase(result, c)) if _pipeline_phase(result, c) else None for c in classes]

    rows = [
        ["limit: bare c2pa read"] + [limit[c]["cpu_ms_per_object"] for c in classes],
        ["naive: its one process"] + [naive.get(c, {}).get("cpu_ms_per_object") for c in classes],
    ]
    if naive:
        rows.append(["naive + moto + valkey", *only_overall, naive["all_cpu_ms_per_object"]])
    if upload:
        rows.append(["upload only: moto + uploader", *only_overall, upload["all_cpu_ms_per_object"]])
    rows.append(pipeline_row("pipeline worker, all processes", lambda p: p["worker_cpu_ms_per_object"]))
    for role, title in (
        ("parent", "  celery parent"),
        ("pool", "  pool children"),
        ("reader", "  c2pa reader children"),
    ):
        rows.append(pipeline_row(title, lambda p, r=role: p["worker_cpu_ms_per_object_by_role"].get(r)))
    rows.append(pipeline_row("pipeline, every process", lambda p: p["all_cpu_ms_per_object"]))
    rows.append(["pipeline worker ÷ limit"] + [result["ratios"]["cpu_pipeline_over_limit"].get(c) for c in classes])
    note = "(every process = worker + intake + moto + valkey + upload threads)"
    return [f"CPU ms per object  {note}", *_table(["", *classes], rows)]


def _latency(result: dict[str, Any]) -> list[str]:
    pipe = result["pipeline"]
    rows = []
    for title, phase in (
        ("burst: whole mix at once", pipe["burst"]),
        (_steady_title(pipe.get("steady")), pipe.get("steady")),
    ):
        if not phase:
            continue
        rows.append([title, *_lat(phase["latency_ms"])])
        for c, summary in phase["latency_ms_by_class"].items():
            rows.append([f"  {c}", *_lat(summary)])
    lines = ["UPLOAD-TO-LABEL LATENCY ms  (PUT returned -> record on the stream)"]
    lines += _table(["", "n", "p50", "p95", "p99", "max"], rows)
    steady = pipe.get("steady")
    if steady:
        p99 = steady["latency_ms"]["p99"]
        verdict = "meets" if p99 is not None and p99 < 2000 else "misses"
        lines.append(f"issue target p99 < 2000 ms at half load: steady p99 {_fmt(p99)} ms ({verdict} it)")
    return lines


def _stages(result: dict[str, Any]) -> list[str]:
    burst = result["pipeline"]["burst"]
    stages = ", ".join(f"{s} {_fmt(v['mean_ms'])} (n={v['count']})" for s, v in burst["stage_ms"].items())
    echo = " (fetch's n includes the write-back copies' echo tasks)" if burst["tasks"].get("already_labelled") else ""
    return [
        f"WORKER STAGES  mean wall ms per task in the mix burst{echo}",
        f"  {stages}",
        "  tasks: " + ", ".join(f"{k} {v}" for k, v in burst["tasks"].items()),
        *_profile(burst),
    ]


def _profile(burst: dict[str, Any]) -> list[str]:
    """The py-spy breakdown of the worker's CPU (``--profile``), largest share first."""
    profile = burst.get("profile")
    if not profile:
        return []
    width = max(len(name) for name in profile["share_percent"])
    lines = [f"WORKER CPU BY STAGE  share of py-spy samples in the mix burst ({profile['file']})"]
    lines += [f"  {name:<{width}} {share:5.1f}%" for name, share in profile["share_percent"].items()]
    return lines


def _memory(result: dict[str, Any]) -> list[str]:
    lines = ["PEAK RSS per worker process (VmHWM, after all pipeline phases)"]
    for role in ("parent", "pool", "reader"):
        peaks = [m["peak_rss_mb"] for m in result["pipeline"]["memory"] if m["role"] == role]
        lines.append(f"  {role:<7} " + ", ".join(f"{p:.0f} MB" for p in peaks))
    return lines


def _cores(result: dict[str, Any]) -> list[str]:
    pipe = result["pipeline"]
    named = [(p["phase"], p["cpu_s"]) for p in (pipe["burst"], *pipe["by_class"].values(), pipe.get("steady")) if p]
    for key, title in (("upload_only", "upload only"), ("naive", "naive")):
        if key in result:
            named.append((title, result[key]["cpu_s"]))
    rows = [
        [
            title,
            cpu["wall_s"],
            cpu["worker_total"],
            cpu["moto"],
            cpu["intake"],
            cpu["valkey"],
            cpu["bench"],
            cpu.get("proxy", 0.0),
            cpu["other"],
            f"{100 * cpu['machine_busy'] / max(cpu['machine_total'], 1e-9):.0f}%",
        ]
        for title, cpu in named
    ]
    header = ["phase", "wall", "worker", "moto", "intake", "valkey", "bench", "proxy", "other", "busy"]
    return [
        "WHO USED THE CORES  CPU s per phase; bench = upload threads (and the naive loop); proxy = the S3 latency "
        "proxy (--s3-latency-ms); other = rest of the machine",
        *_table(header, rows),
    ]


def _ratios(result: dict[str, Any]) -> list[str]:
    ratios = result["ratios"]
    cpu, thr = ratios["cpu_pipeline_over_limit"], ratios["throughput_pipeline_over_naive"]
    lines = [
        "RATIOS",
        f"  pipeline worker CPU/object ÷ limit CPU/object: overall {_fmt(cpu.get('overall'))}x, "
        f"small images {_fmt(cpu.get('small'))}x",
    ]
    if thr:
        per_class = "".join(f", {c} {_fmt(v, 2)}x" for c, v in thr.items() if c != "overall")
        lines.append(f"  pipeline throughput ÷ naive throughput: overall {_fmt(thr.get('overall'), 2)}x{per_class}")
        lines.append(
            "    (the pipeline's clock starts at the first upload; the naive loop's objects are already stored)"
        )
        lines.append(f"  naive CPU/object ÷ limit: overall {_fmt(ratios['cpu_naive_over_limit'].get('overall'))}x")
    return lines


def _lat(summary: dict[str, Any]) -> list[Any]:
    return [summary["n"], summary["p50"], summary["p95"], summary["p99"], summary["max"]]


def _steady_title(steady: dict[str, Any] | None) -> str:
    if not steady:
        return ""
    return f"steady: {_fmt(steady['rate_objects_per_s'])} objects/s paced"


def failed(result: dict[str, Any]) -> bool:
    """True when a phase lost or mislabelled objects: the pipeline is broken, whatever the timings say."""
    pipe = result["pipeline"]
    phases = [pipe["burst"], *pipe["by_class"].values(), *([pipe["steady"]] if pipe.get("steady") else [])]
    return any(p["labelled"] < p["objects"] or p["mislabelled"] for p in phases)


def _problems(result: dict[str, Any]) -> list[str]:
    pipe = result["pipeline"]
    out = []
    for phase in [pipe["burst"], *pipe["by_class"].values(), *([pipe["steady"]] if pipe.get("steady") else [])]:
        if phase["labelled"] < phase["objects"]:
            out.append(f"{phase['phase']}: {phase['objects'] - phase['labelled']} objects got no record in time")
        if phase["mislabelled"]:
            out.append(f"{phase['phase']}: {phase['mislabelled']} records differ from the expected label")
        if not phase["drained"]:
            out.append(f"{phase['phase']}: the pipeline did not drain; CPU per object may be understated")
        other = phase["cpu_s"]["other"]
        if other > 0.5 and other > 0.1 * phase["cpu_s"]["machine_busy"]:
            out.append(f"{phase['phase']}: processes outside the benchmark used {phase['cpu_s']['other']:.1f} CPU s")
    return ["PROBLEMS", *[f"  {p}" for p in out]] if out else []


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """latency.png and throughput_by_size.png; an empty list (and a note) without matplotlib."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print("plots     skipped: matplotlib is not installed (pip install matplotlib for the PNGs)", file=sys.stderr)
        return []
    out.mkdir(parents=True, exist_ok=True)
    return [
        _plot_latency(plt, result, out / "latency.png"),
        _plot_throughput(plt, result, out / "throughput_by_size.png"),
    ]


def _plot_latency(plt: Any, result: dict[str, Any], path: Path) -> Path:
    """Histogram (log-spaced bins: latencies span milliseconds to seconds) and CDF, burst and steady state."""
    pipe = result["pipeline"]
    series = [
        (title, sorted(v / 1000 for v in phase["_latencies_ms"].values())) for title, phase in _latency_series(pipe)
    ]
    series = [(title, values) for title, values in series if values]
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(12, 4.5))
    if series:
        low = max(1e-3, min(v[0] for _, v in series))
        high = max(v[-1] for _, v in series) * 1.01
        bins = [low * (high / low) ** (i / 60) for i in range(61)]
        for title, values in series:
            hist.hist(values, bins=bins, alpha=0.6, label=title)
            cdf.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=title)
    cdf.axvline(2.0, color="red", linestyle="--", linewidth=1, label="issue target: p99 < 2 s")
    cdf.axhline(0.99, color="grey", linestyle=":", linewidth=1)
    hist.set(xlabel="upload-to-label latency (s)", ylabel="objects", title="Latency histogram", xscale="log")
    cdf.set(xlabel="upload-to-label latency (s)", ylabel="fraction of objects", title="Latency CDF", xscale="log")
    hist.legend()
    cdf.legend(loc="lower right")
    fig.suptitle(result["meta"]["machine"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _latency_series(pipe: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("burst: whole mix at once", pipe["burst"])]
    if pipe.get("steady"):
        out.append((_steady_title(pipe["steady"]), pipe["steady"]))
    return out


def _throughput_series(result: dict[str, Any], classes: Sequence[str]) -> list[tuple[str, list[float], list[float]]]:
    """(label, objects/s per class, MB/s per class) for the limit, the naive loop and the pipeline."""
    limit, naive, by_class = result["limit"], result.get("naive", {}), result["pipeline"]["by_class"]
    series = [
        (
            "limit: c2pa from memory, per core",
            [limit[c]["objects_per_s_per_core"] for c in classes],
            [limit[c]["mb_per_s_per_core"] for c in classes],
        )
    ]
    if naive:
        series.append(
            (
                "naive: 1 process",
                [naive[c]["objects_per_s"] for c in classes],
                [naive[c]["mb_per_s"] for c in classes],
            )
        )
    series.append(
        (
            f"pipeline: {result['meta']['workers']} workers",
            [by_class.get(c, {}).get("objects_per_s") or 0.0 for c in classes],
            [by_class.get(c, {}).get("mb_per_s") or 0.0 for c in classes],
        )
    )
    return series


def _plot_throughput(plt: Any, result: dict[str, Any], path: Path) -> Path:
    """Grouped bars per size class, log scale (the limit is one to two orders above the rest)."""
    classes = [c for c in SIZE_CLASSES if c in result["limit"]]
    series = _throughput_series(result, classes)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(series)
    for axis, index, unit in ((axes[0], 1, "objects/s"), (axes[1], 2, "MB/s")):
        for offset, row in enumerate(series):
            positions = [i + offset * width for i in range(len(classes))]
            axis.bar(positions, row[index], width, label=row[0])
        axis.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(classes))], classes)
        axis.set(ylabel=unit, yscale="log", title=f"{unit} by size class (pipeline: a burst per class)")
        axis.legend(fontsize=8)
    fig.suptitle(result["meta"]["machine"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
