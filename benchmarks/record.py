"""How the benchmarks record what they measure: spreads, targets, and a results file that carries its
figure, command, machine, package versions and date, so the docs' tables are rendered from it alone."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

from study.runtime.rate import cpu_model

# The engine's targets: (key, label, limit, "<=" or ">=").
TARGETS = {
    "engine_over_bound": ("engine / arithmetic bound", 1.5, "<="),
    "numpy_over_engine": ("NumPy (float64) / engine", 2.0, ">="),
    "naive_over_engine": ("naive Keras / engine", 15.0, ">="),
    "logging_share": ("MLflow logging share of engine time", 0.05, "<="),
}
RESULTS = Path(__file__).resolve().parent / "results"


def spread(values: list[float]) -> dict:
    """Median, min, max and the raw values: what every timed quantity is reported as."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def check(key: str, measured: float) -> dict:
    """One target: its label, limit, the measured value and PASS/FAIL."""
    label, limit, op = TARGETS[key]
    ok = measured <= limit if op == "<=" else measured >= limit
    return {"key": key, "label": label, "measured": measured, "limit": limit, "op": op, "pass": bool(ok)}


def machine() -> dict:
    """Where and when: CPUs, load average now, library versions."""
    from study.store.provenance import versions

    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "versions": versions(),
    }


def describe_machine() -> str:
    """One line a reader can compare their machine with: CPU model, core count, OS."""
    return f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def results_header(figure: str, module: str, argv: list[str]) -> dict:
    """What every results file starts with: the figure it answers, the command that wrote it, where and when."""
    from study.store.provenance import versions

    return {
        "figure": figure,
        "command": " ".join(["python -m", module, *argv]),
        "machine": describe_machine(),
        "python": platform.python_version(),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_results(name: str, doc: dict, out: str | None = None) -> Path:
    """Write a benchmark's results file (benchmarks/results/<name>.json unless `out` names another)."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def require_data_dir() -> None:
    """The benchmark never downloads: $STUDY_DATA_DIR must name the MNIST IDX directory."""
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")


def fmt_value(key: str, v: float) -> str:
    return f"{100 * v:.1f} %" if key == "logging_share" else f"{v:.2f} x"


def print_targets(targets: list[dict], second: list[dict] | None = None) -> None:
    """The PASS/FAIL lines; `second`: the same targets for the cached-graph engine, as a second column."""
    head = "  new graph        cached graph" if second else "  measured"
    print(f"\n{'target':<46}{'limit':<12}{head}")
    others = {t["key"]: t for t in second or []}
    for t in targets:
        line = f"  {t['label']:<44}{t['op']} {fmt_value(t['key'], t['limit']):<9}"
        for x in [t] + ([others[t["key"]]] if t["key"] in others else []):
            line += f"{fmt_value(x['key'], x['measured']):>10} {'PASS' if x['pass'] else 'FAIL'}  "
        print(line.rstrip())


def fmt_load(m: dict) -> str:
    return " ".join(f"{v:.2f}" for v in m["load_average"])
