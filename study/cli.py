"""The `study` command: parse arguments, call one library function, turn StudyError into exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from study.errors import StoreFault, StudyError, Terminated

EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143  # 143 = 128 + SIGTERM


# Which store a command uses is printed on stderr as `store: <uri>` once its input is checked, so bad
# input (a bad store included) stays one line: `run` and `reproduce` (the runner, before training) and
# `ui` (before serving) at their start; the quick reads `list`, `report`, `compare`, `rm`, `verify`
# with their result.
ANNOUNCED_AT_START: tuple[str, ...] = ()
ANNOUNCED_WITH_RESULT = ("list", "report", "compare", "rm", "verify")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script (`argv` None: the process's own arguments, and the process
    ends as soon as the command is done); with `argv`, a call that returns the exit code."""
    if argv is None:  # SIGTERM (`timeout`, Slurm, systemd, `docker stop`) ends a command as Ctrl-C does
        from study.execution.interrupts import install

        install()
    code = run_command(argv)
    if argv is None:
        end_process(code)
    return code


def run_command(argv: list[str] | None) -> int:
    """Parse the arguments and run the command; bad input is one line on stderr and exit code 2."""
    args = parser().parse_args(argv)
    try:
        if args.store is not None:
            from study.store.connect import use_store
            from study.store.lookup import store_uri

            use_store(store_uri(args.store, create=True))
        if args.command in ANNOUNCED_AT_START:
            announce_store()
        code = args.func(args)
        if args.command in ANNOUNCED_WITH_RESULT:
            announce_store()
        return code
    except StudyError as exc:
        print(f"error: {printable_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreFault as exc:  # the store failed under a run: 1 once a cell had started, else 2
        print(f"error: {printable_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a store that fails under us (locked, full, read-only): one line, not a traceback
        from study.store.connect import store_fault_text

        fault = store_fault_text(exc)
        if fault is None:
            raise
        print(f"error: {fault}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print("terminated (SIGTERM)" if terminated else "interrupted", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    finally:
        if args.store is not None:
            from study.store.connect import use_store

            use_store(None)  # main() may be called again in this process (tests, notebooks)


def announce_store(study_file: str | None = None) -> None:
    """Say which store the command uses, one line on stderr: `--store`, else $MLFLOW_TRACKING_URI, else
    the mlruns/ of the project holding the study file (or the current folder)."""
    from pathlib import Path

    from study.store.connect import default_tracking_uri

    print(f"store: {default_tracking_uri(Path(study_file).parent if study_file else None)}", file=sys.stderr)


def printable_line(text: str) -> str:
    """A message on one line whatever the user's input held: line breaks and control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Parser(argparse.ArgumentParser):
    """argparse with its mistakes on one line (argparse prints the usage above them): exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {printable_line(message)} (see {self.prog} --help)\n")


def end_process(code: int) -> NoReturn:
    """Exit now, without the interpreter's teardown of TensorFlow's and MLflow's modules (1.5-3 s).

    Everything a command writes is stored before it returns (the background writer is flushed, each
    MLflow write is its own committed transaction, files are closed), so only the output streams and
    the log handlers are left to flush.
    """
    import logging
    import os
    import threading

    heavy = {"tensorflow", "mlflow"} & sys.modules.keys()
    if not heavy and threading.active_count() == 1:  # nothing to tear down, no warm-up: the ordinary exit
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    logging.shutdown()
    os._exit(code)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="study", description="Keras experiment grids tracked in MLflow.")
    p.add_argument(
        "--store",
        default=None,
        metavar="DIR|URI",
        help="the MLflow store: a store folder (mlruns), a .db file or a tracking URI (default: "
        "$MLFLOW_TRACKING_URI, else the mlruns/ of the project holding the study file or the current folder)",
    )
    sub = p.add_subparsers(required=True, metavar="COMMAND", dest="command")

    run = sub.add_parser(
        "run",
        help="train every missing cell of a study into the MLflow store",
        description="Train every missing cell of a study into the MLflow store. Exit codes: 0 every "
        "cell finished and every `expect:` range was met; 1 a cell failed or an "
        "expectation was not met; 2 bad input (nothing written); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).",
    )
    run.add_argument("config", help="the study file, e.g. configs/vanishing_gradient.yaml")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set train.iterations=500 (repeatable)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the expanded cells and exit")
    run.add_argument("--rerun", action="store_true", help="train cells again even if already FINISHED")
    run.add_argument("--workers", type=positive_int, default=1, help="train cells in N processes (default 1)")
    run.add_argument("--backend", choices=("local", "ray"), default="local", help="where cells run (default local)")
    run.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    run.add_argument("--cpus-per-cell", type=positive_float, default=1.0, help="CPUs a Ray task declares (default 1)")
    run.add_argument(
        "--report",
        action="store_true",
        help="write the comparison report at the end (with nothing left to train: only if the run has none)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="the studies and runs in the store")
    ls.set_defaults(func=cmd_list)

    rep = sub.add_parser("report", help="write the comparison report of a study")
    rep.add_argument("study", help="the study name (the `study:` key of its file)")
    rep.add_argument("-o", "--output", default=None, help="output directory (default reports/<study>/<parent run id>/)")
    rep.add_argument("--run", default=None, help="parent run id (default: the study's latest)")
    rep.add_argument(
        "--compare", default=None, metavar="OTHER", help="add a section comparing it with another run or study"
    )
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser(
        "compare",
        help="compare two study runs cell by cell: B − A and whether it beats seed noise",
        description="Compare B with A: two parent runs, or two studies with the same axes (their latest "
        "runs). One row per shared cell: the means, B − A and, when both have two seeds or more, "
        "Welch's 95 %% interval and whether the change is beyond seed noise.",
    )
    cmp.add_argument("a", metavar="A", help="the baseline: a parent run id or a study name (its latest run)")
    cmp.add_argument("b", metavar="B", help="the run compared with it: a parent run id or a study name")
    cmp.add_argument(
        "--metric",
        action="append",
        default=None,
        help="a per-run statistic to compare (repeatable; default final_test_acc)",
    )
    cmp.set_defaults(func=cmd_compare)

    rm = sub.add_parser(
        "rm",
        help="delete a study's runs, or one parent run and the cells it trained",
        description="Delete the runs of a study (a study name: every run of it) or of one `study run` "
        "(a parent run id: it and the cell runs it trained); never another study's. MLflow's soft "
        "delete (restorable with `mlflow runs restore`); --purge then removes them and their "
        "artifacts for good. Asks for confirmation unless --yes. Exit 0 deleted, 1 declined, 2 bad input.",
    )
    rm.add_argument("target", help="a study name or a parent run id (study list shows them)")
    rm.add_argument("--purge", action="store_true", help="remove the deleted runs and their artifacts for good")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    rm.set_defaults(func=cmd_rm)
    ui = sub.add_parser("ui", help="start the MLflow UI on the store and print the URL of a study run's cells")
    ui.add_argument("study", nargs="?", default=None, help="the study to open (default: the latest one run)")
    ui.add_argument(
        "--run", default=None, help="parent run id: the study run whose cells to show (default: the latest)"
    )
    ui.add_argument("--port", type=positive_int, default=None, help="port to listen on (default 5000)")
    ui.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1, this machine only)")
    ui.set_defaults(func=cmd_ui)

    ver = sub.add_parser("verify", help="re-run a tracked cell and compare its metric histories exactly")
    ver.add_argument("run_id", help="the child run to verify")
    ver.set_defaults(func=cmd_verify)

    rp = sub.add_parser(
        "reproduce",
        help="re-run a whole tracked study and compare every cell with the original",
        description="Re-run the study of a parent run (from its study.yaml and cells.json) into a new "
        "parent run tagged as its reproduction, and print a verdict per cell. Exit 0 when "
        "every cell is identical, 1 otherwise, 2 for a run id that is not a study's parent.",
    )
    rp.add_argument("parent_id", help="the parent run of the `study run` to reproduce (study list shows them)")
    rp.add_argument("--workers", type=positive_int, default=1, help="train cells in N processes (default 1)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_reproduce)

    st = sub.add_parser(
        "settings",
        help="every setting of a study file: type, default, valid values, meaning",
        description="Print every setting of a study file (or one group, e.g. `model`, or one key, e.g. "
        "`model.activation`) with its type, default, valid values and meaning, from the schema.",
    )
    st.add_argument("key", nargs="?", default=None, help="a group (model, optimizer, …) or a dotted key")
    st.add_argument("--markdown", action="store_true", help="print docs/settings.md instead")
    st.set_defaults(func=cmd_settings)

    sc = sub.add_parser(
        "schema",
        help="the JSON Schema of a study file, for editor completion",
        description="Print the JSON Schema of a study file (save it, e.g. as study.schema.json, and point "
        "your editor's YAML support at it; see the README).",
    )
    sc.set_defaults(func=cmd_schema)
    return p


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from study import api
    from study.results import stored_report

    study = api.load(args.config, args.overrides)
    if args.dry_run:
        from study.check.dry_run import dry_run
        from study.execution.kind_probe import probe_new_kinds
        from study.runtime.rate import machine_rate

        planned = dry_run(study, args.workers)  # the real run's checks, then each cell's non-default settings
        announce_store(args.config)  # the store the run would use (the run itself says so once checked)
        print(planned.text())
        for line in planned.checked.lines():  # what the pre-run checks found
            print(line, file=sys.stderr)
        probe_new_kinds(planned.cells, planned.checked.data, machine_rate(remeasure=True), say=_stderr)
        closing = planned.summary()  # once: its estimate measures the machine's rate
        if closing:
            print(closing, file=sys.stderr)
        return 0
    result = api.run(
        study,
        rerun=args.rerun,
        workers=args.workers,
        backend=args.backend,
        progress=not args.quiet,
        ray_address=args.address,
        cpus_per_cell=args.cpus_per_cell,
        report=args.report,  # the report the parent holds already, else written now
    )
    print(result.table)
    report = result.report_path or stored_report(result)  # without --report: one an earlier run wrote
    if report is not None:
        print(f"report: {report}")
    return result.exit_code


def cmd_settings(args: argparse.Namespace) -> int:
    from study.spec.settings_doc import settings_markdown, settings_text

    sys.stdout.write(settings_markdown() if args.markdown else settings_text(args.key))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from study.spec.settings_doc import schema_text

    sys.stdout.write(schema_text())
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from study.store.inventory import list_store

    print(list_store())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from study import api

    path = api.report(args.study, run=args.run, out=args.output, compare=args.compare)
    print(f"report: {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from study import api

    comparison = api.compare(args.a, args.b, metrics=args.metric or ("final_test_acc",))
    print(comparison.text())
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from study import api

    def confirm(plan) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise StudyError("rm: not asking for confirmation on a non-interactive input; add --yes to delete")
        print(plan.text())
        return input("proceed? [y/N] ").strip().lower() in ("y", "yes")

    plan = api.rm(args.target, purge=args.purge, confirm=confirm)
    if not plan.runs:
        print(f"{plan.target.describe()} has no runs to {'purge' if args.purge else 'delete'}: nothing changed")
        return 0
    if not plan.done:
        print("nothing deleted")
        return 1
    print(plan.text())
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from study.ui import DEFAULT_HOST, DEFAULT_PORT, serve

    return serve(args.study, args.host or DEFAULT_HOST, args.port or DEFAULT_PORT, args.run)


def cmd_verify(args: argparse.Namespace) -> int:
    from study.execution.verify import verify_run
    from study.store.connect import resolve_tracking_uri

    resolve_tracking_uri(None)  # a run id needs a store: refuse rather than create an empty one

    verdict = verify_run(args.run_id)
    print(f"{args.run_id}: {verdict.text}")
    return 0 if verdict.identical else 1


def cmd_reproduce(args: argparse.Namespace) -> int:
    from study.execution.reproduce import reproduce_study
    from study.store.connect import resolve_tracking_uri

    resolve_tracking_uri(None)  # a run id needs a store: refuse rather than create an empty one

    reproduction = reproduce_study(args.parent_id, progress=not args.quiet, workers=args.workers)
    print(reproduction.text())
    return 0 if reproduction.identical else 1


if __name__ == "__main__":
    sys.exit(main())
