"""The ``afdetect`` command line: thin wrappers that parse, call the library and print.

Exit codes: 0 ok, 1 some records failed (the others were processed), 2 usage error
(bad option, input, weights or output path), 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from afdetect.cli.common import (
    ErrorLines,
    FromOption,
    JobsOption,
    LeadOption,
    MethodOption,
    QuietOption,
    RunProgress,
    ThreadsOption,
    ThresholdOption,
    ToOption,
    VariantOption,
    WeightsOption,
    err,
    parse_span,
    report_left_out,
    report_skipped,
    run_action,
    silence_stdout,
    state,
    use_threads,
    with_config_options,
)
from afdetect.cli.help import ReadableCommand, ReadableGroup, print_version
from afdetect.cli.tables import burden_table, print_eval_result, print_table, provenance_line
from afdetect.cli.training import (
    CalibrateOnlyOption,
    ForceOption,
    calibrate_command,
    copy_output,
    train_cnn_command,
    train_trees_command,
)
from afdetect.config import DEFAULT_JOBS
from afdetect.errors import EXIT_BROKEN_PIPE, EXIT_RECORD_FAILED, AfdetectError, UsageError
from afdetect.training.options import TrainConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find atrial fibrillation in PhysioNet WFDB ECG records with ECGCNN.",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=ReadableGroup,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug/--no-debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=print_version,
            is_eager=True,
            help="Show the version and the shipped weights' sha256 digests, then exit.",
        ),
    ] = False,
) -> None:
    state["debug"] = debug


@app.command(cls=ReadableCommand)
def preprocess(
    data: Annotated[list[Path], typer.Argument(metavar="DATA", help="Record folders, records or RECORDS files.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Windows file to write (.npz).")] = Path("windows.npz"),
    lead: LeadOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", "-r", help="Search folders recursively.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Cut labelled records into conditioned windows for training and evaluation.

    Example: afdetect preprocess ../shared/data/cinc2017 -o windows.npz
    """
    from afdetect.io.atomic import check_outputs_apart, check_writable
    from afdetect.io.find import find_records
    from afdetect.io.record import input_files
    from afdetect.training.cache import save_window_set, windows_from_records

    def action() -> int:
        check_writable(output)
        records = find_records([str(d) for d in data], recursive)
        check_outputs_apart([output], input_files(records))
        failures: list[str] = []
        try:
            with RunProgress("preprocess", quiet=quiet) as progress:
                progress(0, len(records))

                def on_record(path: Path, error: AfdetectError | None) -> None:
                    if error is not None:
                        failures.append(str(error))
                    progress.advance()

                ws = windows_from_records(records, lead=lead, on_record=on_record)
        finally:  # also when no record could be read: say why each failed
            report_skipped(failures, len(records))
        save_window_set(ws, output)
        table = Table(title=f"{output}: {len(ws)} windows")
        for column in ("source", "records", "AF windows", "non-AF windows", "ignored windows"):
            table.add_column(column, justify="right")
        for row in ws.summary():
            table.add_row(*(str(v) for v in row))
        err.print(table)
        return EXIT_RECORD_FAILED if failures else 0

    raise typer.Exit(run_action(action))


def train(
    *,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also copy the best weights to this file.")
    ] = None,
    calibrate_only: CalibrateOnlyOption = None,
    force: ForceOption = False,
    threads: ThreadsOption = None,
    **options: object,
) -> None:
    """Train ECGCNN (or the rhythm trees) on a windows file with a record-wise train/validation/test split.

    Variants: se = ECGCNN_SE (0.29 M parameters), l = ECGCNN_L (0.29 M parameters); hybrids that
    also take the windows' cached rhythm features: se-rhythm (joined to the LSTM latent, 0.31 M),
    se-rhythm-head (joined at the classifier, 0.29 M); resnet = the signal ResNet (0.22 M, the CNN of
    --method blend) and its hybrid resnet-rhythm (the features joined at its classifier, 0.22 M).
    --method trees fits gradient-boosted trees on rhythm features (four CinC classes) instead.
    --classes 4 trains ECGCNN on the four CinC classes too (N, A, O, ~; p_af is P(A)) instead of AF
    against the rest; eval then also reports the challenge score F1(N, A, O) on CinC-labelled data.
    With --folds K --fold k the test split is fold k of K record folds stratified by AF
    (benchmarks/crossval.py trains every fold); 'afdetect eval --split test' then evaluates that fold.
    Runs unchanged under 'torchrun --nproc_per_node N -m afdetect train ...' (data-parallel;
    --batch-size per process; only rank 0 writes files and prints).

    Example: afdetect train --data windows.npz --variant se --epochs 30 -o se.pt
    """
    import torch

    from afdetect.io.atomic import check_writable
    from afdetect.training.distributed import is_main
    from afdetect.training.loop import train as run_training

    if threads:
        torch.set_num_threads(threads)
    config = TrainConfig(**options)  # type: ignore[arg-type]

    def action() -> None:
        config.validate()  # option errors before any file is touched
        if output is not None:
            check_writable(output)
        if calibrate_only is not None:
            calibrate_command(calibrate_only, config.data, output, force, threads)
            return
        if not is_main():  # another torchrun process: rank 0 reports and writes
            run_training(config)
            return
        train_command = train_trees_command if config.method == "trees" else train_cnn_command
        best_file = train_command(config, threads)
        if output is not None:
            copy_output(best_file, output)

    run_action(action)


with_config_options(train, TrainConfig)
app.command(cls=ReadableCommand)(train)


@app.command(cls=ReadableCommand)
def predict(
    records: Annotated[
        list[str],
        typer.Argument(
            metavar="RECORD", help="Records (rec.hea or rec), folders, RECORDS files, or - for paths on stdin."
        ),
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="CSV file to write, or - for stdout.")] = "-",
    weights: WeightsOption = None,
    variant: VariantOption = None,
    lead: LeadOption = None,
    threshold: ThresholdOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", "-r", help="Search folders recursively.")
    ] = False,
    threads: ThreadsOption = None,
    jobs: JobsOption = DEFAULT_JOBS,
    episodes: Annotated[
        Path | None, typer.Option(help="Also write the AF episodes of all records to this CSV.")
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(help="Also write per-record AF burden summaries to this file (JSON; CSV if it ends in .csv)."),
    ] = None,
    annotate: Annotated[
        str | None,
        typer.Option(metavar="EXT", help="Write each record's AF episodes as WFDB rhythm annotations REC.EXT."),
    ] = None,
    annotate_dir: Annotated[
        Path | None, typer.Option(help="Folder for --annotate files (default: next to each record).")
    ] = None,
    method: MethodOption = None,
    quiet: QuietOption = False,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", metavar="csv|jsonl", help="Per-window output: CSV with a header, or one JSON object a line."
        ),
    ] = "csv",
    start: FromOption = None,
    end: ToOption = None,
) -> None:
    """Label every window of each record AF / non-AF / unreadable; write one CSV table.

    Columns: record,start_s,end_s,label,p_af,problem. Progress, errors and a per-record AF
    burden table go to stderr, so '-o -' composes with shell pipelines. AF episodes join AF
    windows (gaps under 30 s bridged, episodes under 30 s dropped); --episodes, --summary and
    --annotate write them out. Episodes and summaries carry the afdetect version, model,
    weights sha256 and AF threshold; the threshold is also printed on stderr.

    Example: afdetect predict data/ -r -o windows.csv --episodes episodes.csv --summary burden.csv
    """
    from afdetect.detect.jobs import resolve_jobs
    from afdetect.detect.predictor import Predictor, resolve_method
    from afdetect.detect.runs import predict_to_csv
    from afdetect.rhythm.burden import BurdenReport, check_burden_outputs

    def action() -> int:
        method_used = resolve_method(method, weights, variant)
        use_threads(method_used, threads)
        span_s = parse_span(start, end)
        check_burden_outputs(episodes, summary, annotate, annotate_dir)
        predictor = Predictor.for_method(method_used, weights=weights, variant=variant, threshold=threshold)
        provenance = predictor.provenance()
        report = BurdenReport(annotate, annotate_dir, provenance=provenance)
        errors = ErrorLines()
        with RunProgress("predict", quiet=quiet) as progress:
            run = predict_to_csv(
                predictor,
                records,
                output,
                lead=lead,
                recursive=recursive,
                jobs=resolve_jobs(jobs),
                on_record=report.add,
                on_error=errors,
                also_writes=[episodes, summary],
                record_outputs=report.annotation_path,
                on_progress=progress,
                output_format=output_format,
                span_s=span_s,
            )
        errors.finish()
        if run.failed:
            err.print(f"{run.failed} of {run.records} records failed", highlight=False)
        if episodes is not None and run.succeeded:  # no record written: no output file either
            report.write_episodes(episodes)
        if summary is not None and run.succeeded:
            report.write_summary(summary)
        if report.summaries:
            print_table(burden_table(report.summaries))
        err.print(provenance_line(provenance), highlight=False, soft_wrap=True)
        return run.exit_code

    raise typer.Exit(run_action(action))


@app.command(cls=ReadableCommand)
def plot(
    record: Annotated[str, typer.Argument(metavar="RECORD", help="The record (rec.hea or rec).")],
    start: Annotated[float | None, typer.Option(help="Strip start (s from record start; default 0).")] = None,
    duration: Annotated[
        float | None, typer.Option(help="Strip length (s; default 30 s after --start, else the whole record).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="PNG to write (default: NAME_strip.png / NAME_overview.png, numbered when taken)."
        ),
    ] = None,
    overview: Annotated[
        bool | None,
        typer.Option(
            "--overview/--strip",
            help="Whole-record p(AF) against hours, or an ECG strip (default without --start and --duration:"
            " overview for records over 10 min; else the whole record up to 60 s, or 60 s from just before"
            " the first AF window).",
        ),
    ] = None,
    weights: WeightsOption = None,
    variant: VariantOption = None,
    method: MethodOption = None,
    lead: LeadOption = None,
    threshold: ThresholdOption = None,
    threads: ThreadsOption = None,
    force: Annotated[
        bool, typer.Option("--force/--no-force", help="Replace an existing --output PNG (default: refuse).")
    ] = False,
) -> None:
    """Draw an ECG strip (mV against s) with AF windows shaded and p(AF) per window beneath, or a record overview.

    The strip shows the chosen lead at its own sampling rate; the overview (long records)
    streams the whole record and plots p(AF) of every window against time in hours.

    Example: afdetect plot example/example --start 170 --duration 30 -o af_onset.png
    """
    from afdetect.detect.predictor import Predictor, resolve_method
    from afdetect.io.find import resolve_record
    from afdetect.viz.record import plot_record

    def action() -> None:
        method_used = resolve_method(method, weights, variant)
        use_threads(method_used, threads)
        predictor = Predictor.for_method(method_used, weights=weights, variant=variant, threshold=threshold)
        result = plot_record(
            predictor,
            resolve_record(record) or record,
            output,
            start_s=start,
            duration_s=duration,
            lead=lead,
            overview=overview,
            force=force,
        )
        err.print(f"wrote {escape(result.describe())}", highlight=False, soft_wrap=True)

    run_action(action)


@app.command("eval", cls=ReadableCommand)
def evaluate_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT", help="A windows file (.npz from preprocess) or labelled record folders/records."
        ),
    ],
    weights: WeightsOption = None,
    variant: VariantOption = None,
    split: Annotated[
        str, typer.Option(help="Records of a windows file to use: all, train, val or test (as split by train).")
    ] = "all",
    out_dir: Annotated[Path, typer.Option(help="Folder for metrics.json, per_record.csv and PNGs.")] = Path("eval"),
    lead: LeadOption = None,
    threshold: ThresholdOption = None,
    threads: ThreadsOption = None,
    jobs: JobsOption = 1,
    method: MethodOption = None,
    quiet: QuietOption = False,
) -> None:
    """Accuracy, F1, sensitivity, specificity, PPV, AUROC, confusion matrix and per-record table.

    metrics.json also records the afdetect version, model, weights sha256 and threshold.

    Example: afdetect eval windows.npz --weights se.pt --split test --out-dir eval
    """
    from afdetect.detect.jobs import resolve_jobs
    from afdetect.detect.predictor import Predictor, resolve_method
    from afdetect.evaluate.records import evaluate, evaluate_records, select_split
    from afdetect.evaluate.report import report_paths, write_report
    from afdetect.io.atomic import check_outputs_apart
    from afdetect.io.find import find_records
    from afdetect.io.record import input_files
    from afdetect.training.cache import load_window_set

    def action() -> int:
        method_used = resolve_method(method, weights, variant)
        use_threads(method_used, threads)
        predictor = Predictor.for_method(method_used, weights=weights, variant=variant, threshold=threshold)
        failures: list[str] = []
        if len(inputs) == 1 and inputs[0].suffix == ".npz":
            check_outputs_apart(report_paths(out_dir), inputs)
            ws = load_window_set(inputs[0])
            if method_used == "rr" and weights is None and split != "all":
                raise UsageError(None, "--split with --method rr needs --weights (the weights whose split to use)")
            result = evaluate(predictor, ws, select_split(ws, split, predictor.meta))
        else:
            records = find_records([str(i) for i in inputs])
            check_outputs_apart(report_paths(out_dir), input_files(records))

            progress = RunProgress("eval", quiet=quiet)

            def on_record(path: Path, error: AfdetectError | None) -> None:
                if error is not None:
                    failures.append(str(error))
                progress.advance()

            try:  # one streamed pass: metrics, and EC57 statistics of records with .atr rhythm annotations
                with progress:
                    progress(0, len(records))
                    result = evaluate_records(
                        predictor, records, lead=lead, on_record=on_record, jobs=resolve_jobs(jobs)
                    )
            finally:  # a skipped record must not pass silently: the metrics leave it out
                report_skipped(failures, len(records))
        report_left_out(result.left_out)
        written = write_report(result, out_dir, title=predictor.meta["model"], provenance=predictor.provenance())
        print_eval_result(result, f"{predictor.meta['model']} on {', '.join(map(str, inputs))} ({split})")
        err.print(f"threshold {result.threshold:.3f}; wrote {', '.join(str(p) for p in written)}")
        return EXIT_RECORD_FAILED if failures else 0

    raise typer.Exit(run_action(action))


@app.command(cls=ReadableCommand)
def example(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to write the example record into.")] = Path(
        "example"
    ),
) -> None:
    """Write a synthetic 10-minute two-lead 250 Hz record (sinus, 4 min AF, sinus) with .atr labels.

    Example: afdetect example example && afdetect predict example -o -
    """
    from afdetect.io.synthetic_files import write_example_record

    def action() -> None:
        try:
            record = write_example_record(directory)
        except OSError as exc:  # e.g. a folder under /proc, or a file of that name
            raise UsageError(directory, f"cannot write the example record: {exc.strerror or exc}") from None
        err.print(f"wrote {escape(str(record))}.hea, .dat and .atr (AF from 180 s to 420 s)", highlight=False)

    run_action(action)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # e.g. `afdetect predict ... -o - | head`: end quietly, as on SIGPIPE
        silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
