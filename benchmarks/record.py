"""How the engine benchmarks record what they measure: spreads, targets, the machine, the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

# Issue 5's targets, and issue 18's tighter one for the bound: (key, label, limit, "<=" or ">=").
TARGETS = {
    "engine_over_bound": ("engine / arithmetic bound (issue 5)", 1.5, "<="),
    "engine_over_bound_18": ("engine / arithmetic bound (issue 18)", 1.2, "<="),
    "numpy_over_engine": ("NumPy (float64) / engine", 2.0, ">="),
    "naive_over_engine": ("naive Keras / engine", 15.0, ">="),
    "logging_share": ("MLflow logging share of engine time", 0.05, "<="),
    "end_to_end_over_budget": ("VG study end to end / (6 x engine + 15 s)", 1.0, "<="),
    "memory_growth": ("peak RSS after N cells / after 3", 1.10, "<="),
    "time_drift": ("per-cell time, last 3 / first 3 cells", 1.10, "<="),
}


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


def require_data_dir() -> None:
    """The benchmark never downloads: $STUDY_DATA_DIR must name the MNIST IDX directory."""
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")


def merge_json(path: Path, section: str, payload: dict) -> None:
    """Write one mode's results into its section of the JSON file, keeping the other sections."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[section] = payload
    path.write_text(json.dumps(doc, indent=1))


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
