"""The docs' speed tables, rendered from benchmarks/results/*.json, so that no measured number is typed by hand.

    python -m benchmarks.render [NAME ...]     print the named blocks (default: all)
    python -m benchmarks.render --write        rewrite every marked block in the docs

A doc includes a block between `<!-- results: NAME -->` and `<!-- /results -->`; the unit tier
re-renders each one and fails when the text in the doc differs from its results file.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DOCS = (REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md")))
BLOCK = re.compile(r"(<!-- results: ([\w-]+) -->\n)(.*?)(<!-- /results -->)", re.S)


def results(name: str, root: Path = RESULTS) -> dict:
    return json.loads((root / f"{name}.json").read_text())


def median(values: list[float]) -> float:
    return statistics.median(values)


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def source(doc: dict, load: list[float] | None = None) -> str:
    """How a results file was measured, in one line: its command, machine and load average."""
    busy = f" (1-minute load average {load[0]:.1f} at the start)" if load else ""
    return f"`{doc['command']}` on {doc['machine']}{busy}"


# --- the blocks ------------------------------------------------------------------------------


def speed(root: Path = RESULTS) -> str:
    """The README's one table: a study end to end, one cell against its baselines, a cell's start-up."""
    phases, cell, start = results("phases", root), results("per_cell", root), results("startup", root)
    reps = phases["reps"]
    study = median([r["study"]["seconds"] for r in reps])
    numpy_study = median([r["numpy"]["seconds"] for r in reps])
    per = cell["per_cell"]
    engine = per["engine"]["trainer_cached_graph"]["seconds"]["median"]
    rows = [
        (f"`study run {phases['config']}`, process start to exit", seconds(study), "phases"),
        ("the course's NumPy loop, the same cells, training only", seconds(numpy_study), "phases"),
        ("one cell of it (2,000 iterations, graph cached), in the training process", seconds(engine), "engine"),
        ("the same cell's arithmetic bound (counted FLOPs / matmul rate)", seconds(per["bound"]["seconds"]), "engine"),
        ("the same cell, the course's NumPy loop", seconds(per["numpy"]["seconds"]["median"]), "engine"),
    ]
    if "naive" in per:
        rows.append(
            (
                "the same cell, plain `model.fit` + an MLflow callback",
                seconds(per["naive"]["seconds"]["median"]),
                "engine",
            )
        )
    parts = start["parts"]
    rows.append(("a cell's start-up: TensorFlow import", seconds(median(parts["TensorFlow import"])), "startup"))
    others = [median(v) for k, v in parts.items() if k != "TensorFlow import"]
    rows.append(("… then data load, engine build, trace, first graph call", seconds(sum(others)), "startup"))
    commands = {"phases": phases, "engine": cell, "startup": start}
    lines = ["| what | seconds | measured by |", "|---|---:|---|"]
    lines += [f"| {what} | {value} | `{commands[by]['command']}` |" for what, value, by in rows]
    lines.append("")
    lines.append(f"Medians on {phases['machine']}; each benchmark's load average is in benchmarks/README.md.")
    return "\n".join(lines) + "\n"


def vg_output(root: Path = RESULTS) -> str:
    """What `study run` prints at its end: the final table of the phases benchmark's plain run."""
    doc = results("phases", root)
    out = doc["reps"][0]["study"]["stdout"].rstrip("\n")
    return f"```\n{out}\n```\n"


def per_cell(root: Path = RESULTS) -> str:
    """benchmarks/README.md: the per-cell table, medians with their spread."""
    doc = results("per_cell", root)
    r = doc["per_cell"]
    e = r["engine"]
    rows = [
        ("engine + MLflow, new graph (build + trace)", e["new_graph"]["seconds"]),
        ("engine + MLflow, cached graph", e["cached_graph"]["seconds"]),
        ("engine + MLflow in a training process, cached graph", e["trainer_cached_graph"]["seconds"]),
        ("engine, new graph, no callbacks", e["no_callbacks_seconds"]),
        ("NumPy course loop (float64)", r["numpy"]["seconds"]),
    ]
    if "naive" in r:
        rows.append(("naive Keras `fit` + MLflow callback", r["naive"]["seconds"]))
    lines = ["| seconds per cell | median | min – max | reps |", "|---|---:|---:|---:|"]
    lines += [
        f"| {label} | {s['median']:.3f} | {s['min']:.3f} – {s['max']:.3f} | {len(s['values'])} |" for label, s in rows
    ]
    lines.append(f"| arithmetic bound, dominant-shape rate | {r['bound']['seconds']:.3f} | | |")
    lines.append(f"| arithmetic bound, peak rate | {r['bound']['seconds_at_peak']:.3f} | | |")
    lines.append("")
    lines += targets(r["targets"]["trainer_cached_graph"])
    lines.append("")
    lines.append(f"{r['iterations']} iterations; {source(doc, r['machine_before']['load_average'])}.")
    return "\n".join(lines) + "\n"


def targets(rows: list[dict]) -> list[str]:
    """The engine's targets (in a training process, cached graph) as a table."""
    lines = ["| target | limit | measured | |", "|---|---:|---:|---|"]
    for t in rows:
        value = (lambda v: f"{100 * v:.1f} %") if t["key"] == "logging_share" else (lambda v: f"{v:.2f} ×")
        verdict = "met" if t["pass"] else "not met"
        lines.append(f"| {t['label']} | {t['op']} {value(t['limit'])} | {value(t['measured'])} | {verdict} |")
    return lines


def phases(root: Path = RESULTS) -> str:
    """benchmarks/README.md: a study's wall time, and where the instrumented run's main thread spent it."""
    doc = results("phases", root)
    reps = doc["reps"]
    e2e = median([r["study"]["seconds"] for r in reps])
    cells = median([sum(r["study"]["cell_seconds"]) for r in reps])
    rows = [
        ("TensorFlow import, fresh process", median([r["tf_import"] for r in reps])),
        (f"`study run {doc['config']}`, process start to exit", e2e),
        ("… of which the cells (the final table's times)", cells),
        ("the course's NumPy loop, the same cells", median([r["numpy"]["seconds"] for r in reps])),
    ]
    lines = ["| seconds | median |", "|---|---:|"] + [f"| {label} | {value:.2f} |" for label, value in rows]
    instrumented = {k for r in reps for k in r["instrumented"]["phases"]}
    spent = {k: median([r["instrumented"]["phases"].get(k, 0.0) for r in reps]) for k in instrumented}
    lines += ["", "| instrumented run, main thread, launch to exit | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v >= 0.05]
    lines.append("")
    load = [float(v) for v in doc["load_before"].split()]
    lines.append(f"{len(reps)} rep(s); {source(doc, load)}.")
    return "\n".join(lines) + "\n"


def startup(root: Path = RESULTS) -> str:
    """benchmarks/README.md: a cell's start-up, part by part."""
    doc = results("startup", root)
    lines = ["| a cell's start-up, fresh process | median s | min – max |", "|---|---:|---:|"]
    lines += [f"| {k} | {median(v):.2f} | {min(v):.2f} – {max(v):.2f} |" for k, v in doc["parts"].items()]
    lines.append("")
    load = [float(v) for v in doc["load_before"].split()]
    lines.append(f"{len(next(iter(doc['parts'].values())))} rep(s); {source(doc, load)}.")
    return "\n".join(lines) + "\n"


def search_conditional(root: Path = RESULTS) -> str:
    """docs/search.md: a search over a flat and a derived conditional space (benchmarks/search_conditional.py)."""
    from benchmarks.search_conditional import MODES, table

    doc = results("search_conditional", root)
    totals = {m: [r for r in doc["runs"] if r["mode"] == m] for m in MODES}
    summary = "; ".join(
        f"{m}: {sum(r['distinct_in_effect'] for r in rs)} distinct in effect of {sum(r['cells_trained'] for r in rs)} "
        f"cells trained"
        for m, rs in totals.items()
    )
    load = doc["load_average"]["before"]
    note = "`first at trial`: Optuna's number of the first trial with that value, repeated points included"
    return f"{table(doc['runs'])}\n\nIn all, {summary}. {note}. {doc['trials']} trials a search; {source(doc, load)}.\n"


def scale(root: Path = RESULTS) -> str:
    """benchmarks/README.md: the 200 tiny cells against the landed code and the dry run's estimates on this
    machine, then the same cells on the reference machine the estimator's constants come from."""
    return scale_table(results("scale", root)) + "\n" + scale_table(results("scale_cached", root))


def scale_table(doc: dict) -> str:
    """Per-cell fixed cost before and after, and estimates against actual, of one results file."""
    lines = [
        "| 200 tiny cells, `study run` | run s (its final table) | cells' training s | fixed cost per cell s | load |",
        "|---|---:|---:|---:|---:|",
    ]
    for tree, reps in doc["runs"].items():
        for r in reps:
            lines.append(
                f"| {tree} | {r['run_seconds']:.1f} | {r['training_seconds']:.1f} | {r['fixed_per_cell']:.3f} "
                f"| {r['load_before']:.1f} |"
            )
    if doc.get("estimates"):
        lines += ["", *estimates_table(doc["estimates"])]
    lines += ["", f"{scale_source(doc)}"]
    return "\n".join(lines) + "\n"


def estimates_table(estimates: list[dict]) -> list[str]:
    """The dry run's estimates against the runs; with this machine's correction, the uncorrected one beside it."""
    corrected = "uncorrected_estimate_seconds" in estimates[0]
    head = "| study | estimate s | actual s | error |"
    head += " uncorrected s | uncorrected error | cells trained before |" if corrected else ""
    lines = [head + " estimate MB | actual MB | load |", "|---|" + "---:|" * (head.count("|") + 1)]
    for e in estimates:
        row = f"| `{e['config']}` | {e['estimate_seconds']:.0f} | {e['seconds']:.0f} | {100 * e['error']:+.0f} % |"
        if corrected:
            row += (
                f" {e['uncorrected_estimate_seconds']:.0f} | {100 * e['uncorrected_error']:+.0f} % "
                f"| {e['calibrated_on']} |"
            )
        row += f" {e['estimate_store_bytes'] / 1e6:.1f} | {e['store_bytes'] / 1e6:.1f} | {e['load_before']:.1f} |"
        lines.append(row)
    return lines


def scale_source(doc: dict) -> str:
    return f"`{doc['command']}` on {doc['machine']}; load = 1-minute load average before each run."


def report_scale(root: Path = RESULTS) -> str:
    """benchmarks/README.md: `study report` by the number of runs, the earlier code beside this one."""
    doc = results("report_scale", root)
    lines = [
        "| runs | metric points | code | wall s | CPU s | peak RSS MB | HTML MB | figures |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in doc["sizes"]:
        measured = [(size["baseline"]["label"], size["baseline"])] if "baseline" in size else []
        measured += [("this checkout", rep) for rep in size["reps"]]
        for code, r in measured:
            wall = f"> {r['seconds']:.0f} (stopped)" if "stopped" in r else f"{r['seconds']:.1f}"
            html = "–" if "stopped" in r else f"{r['html_bytes'] / 1e6:.2f}"
            figures = "–" if "stopped" in r else str(r["figures"])
            lines.append(
                f"| {size['runs']:,} | {size['metric_rows']:,} | {code} | {wall} | {r['cpu_s']:.1f} | "
                f"{r['peak_rss_mb']:.0f} | {html} | {figures} |"
            )
    lines.append("")
    load = [float(v) for v in doc["load_before"].split()]
    lines.append(f"{source(doc, load)}.")
    return "\n".join(lines) + "\n"


def scale_cluster(root: Path = RESULTS) -> str:
    """benchmarks/README.md: the 200 tiny cells across the two-node loopback Ray cluster and a tracking server."""
    doc = results("scale_cluster", root)
    r = doc["run"]
    lines = [
        "| 200 tiny cells, `--backend ray` on a loopback cluster | value |",
        "|---|---:|",
        f"| nodes (one CPU each) | {r['nodes']} |",
        f"| cells FINISHED / in the store | {r['finished']} / {r['cells']} |",
        f"| cells FINISHED twice | {r['finished_twice']} |",
        f"| cells per node (Ray's logs) | {' / '.join(str(n) for n in r['cells_per_node'])} |",
        f"| files in the driver's folder | {len(r['driver_files'])} (the study file) |",
        f"| run s (its final table) | {r['run_seconds']:.1f} |",
        f"| cells' training s (their `wall_time_s`) | {r['training_seconds']:.1f} |",
        f"| fixed cost per cell, node-seconds | {r['fixed_per_cell']:.3f} |",
        f"| load before | {r['load_before']:.1f} |",
        "",
        f"`{doc['command']}` on {doc['machine']}; load = 1-minute load average before the run.",
    ]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "speed": speed,
    "vg-output": vg_output,
    "per-cell": per_cell,
    "phases": phases,
    "startup": startup,
    "search-conditional": search_conditional,
    "report-scale": report_scale,
    "scale": scale,
    "scale-cluster": scale_cluster,
}


# --- the docs --------------------------------------------------------------------------------


def marked_blocks(text: str) -> list[tuple[str, str]]:
    """(name, text) of every results block in a doc."""
    return [(m.group(2), m.group(3)) for m in BLOCK.finditer(text)]


def rewritten(text: str, root: Path = RESULTS) -> str:
    """The doc with every results block rendered afresh."""
    return BLOCK.sub(lambda m: m.group(1) + RENDERERS[m.group(2)](root) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", metavar="NAME", help=f"blocks to print: {', '.join(RENDERERS)} (default: all)")
    p.add_argument("--write", action="store_true", help="rewrite the marked blocks of README.md and the docs")
    a = p.parse_args(argv)
    unknown = [n for n in a.names if n not in RENDERERS]
    if unknown:
        p.error(f"no block {', '.join(unknown)} (blocks: {', '.join(RENDERERS)})")
    if a.write:
        for doc in DOCS:
            text = doc.read_text()
            if marked_blocks(text) and rewritten(text) != text:
                doc.write_text(rewritten(text))
                print(f"rewrote {doc.relative_to(REPO)}")
        return 0
    for name in a.names or RENDERERS:
        print(f"<!-- results: {name} -->\n{RENDERERS[name]()}<!-- /results -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
