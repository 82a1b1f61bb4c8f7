"""The ``afdetect`` command line: thin wrappers that parse, call the library and print.

Exit codes: 0 ok, 1 some records failed (the others were processed), 2 usage error
(bad option, input, weights or output path), 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from afdetect.errors import EXIT_INTERRUPTED, EXIT_RECORD_FAILED, EXIT_USAGE, AfdetectError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find atrial fibrillation in PhysioNet WFDB ECG records with ECGCNN.",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
T = TypeVar("T")
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def _run(action: Callable[[], T]) -> T:
    """Run ``action``; turn afdetect errors into a one-line message and an exit code."""
    try:
        return action()
    except AfdetectError as exc:
        if _state["debug"]:
            raise
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@app.command()
def preprocess(
    data: Annotated[list[Path], typer.Argument(help="Record folders, records or RECORDS files.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Windows file to write (.npz).")] = Path("windows.npz"),
    lead: Annotated[str | None, typer.Option(help="Lead name or 0-based index (default: first ECG lead).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Search folders recursively.")] = False,
) -> None:
    """Cut labelled records into conditioned windows for training and evaluation."""
    from afdetect.dataset import save_window_set, windows_from_records
    from afdetect.fileio import check_writable
    from afdetect.records import find_records

    def action() -> int:
        check_writable(output)
        records = find_records([str(d) for d in data], recursive)
        failures: list[str] = []
        with _progress() as bar:
            task = bar.add_task("preprocess", total=len(records))

            def on_record(path: Path, error: AfdetectError | None) -> None:
                if error is not None:
                    failures.append(str(error))
                bar.advance(task)

            ws = windows_from_records(records, lead=lead, on_record=on_record)
        save_window_set(ws, output)
        for line in failures[:20]:
            err.print(f"[yellow]skipped:[/yellow] {line}", highlight=False, soft_wrap=True)
        if len(failures) > 20:
            err.print(f"[yellow]... and {len(failures) - 20} more skipped records[/yellow]")
        table = Table(title=f"{output}: {len(ws)} windows")
        for column in ("source", "records", "AF windows", "non-AF windows", "ignored windows"):
            table.add_column(column, justify="right")
        for row in ws.summary():
            table.add_row(*(str(v) for v in row))
        err.print(table)
        return EXIT_RECORD_FAILED if failures else 0

    raise typer.Exit(_run(action))


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Windows file from 'afdetect preprocess'.")],
    variant: Annotated[str, typer.Option(help="Model variant: se (ECGCNN_SE) or l (ECGCNN_L).")] = "se",
    out_dir: Annotated[Path, typer.Option(help="Folder for checkpoints, metrics and curves.")] = Path("runs/se"),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also copy the best weights to this file.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle schedule).")] = 1e-3,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation F1.")] = 8,
    val_fraction: Annotated[float, typer.Option(help="Fraction of records for validation.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Fraction of records held out for testing.")] = 0.15,
    augment_p: Annotated[float, typer.Option(help="Probability of each augmentation.")] = 0.4,
    seed: Annotated[int, typer.Option(help="Random seed (split, initialisation, augmentation).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    workers: Annotated[int, typer.Option(help="Data-loader worker processes.")] = 0,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: torch's choice).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT_DIR/last.pt.")] = False,
) -> None:
    """Train ECGCNN on a windows file with a record-wise train/validation/test split.

    Variants: se = ECGCNN_SE (1.85 M parameters), l = ECGCNN_L (1.84 M parameters).
    """
    import shutil

    import torch

    from afdetect.fileio import atomic_path, check_writable
    from afdetect.train import TrainConfig
    from afdetect.train import train as run_training

    if threads:
        torch.set_num_threads(threads)
    config = TrainConfig(
        data=data,
        out_dir=out_dir,
        variant=variant,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        augment_p=augment_p,
        seed=seed,
        device=device,
        num_workers=workers,
        resume=resume,
    )

    def action() -> None:
        if output is not None:
            check_writable(output)
        with _progress() as bar:
            task = bar.add_task("epoch 1", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                if stage == "epoch":
                    bar.console.print(f"epoch {done}/{total} done", highlight=False)
                    bar.update(task, description=f"epoch {done + 1}", completed=0)
                else:
                    bar.update(task, completed=done, total=total)

            best = run_training(config, progress)
        err.print(
            f"best epoch {best['epoch']}: validation F1(AF) {best['val_f1']:.3f} "
            f"at threshold {best.get('threshold', 0.5):.3f}; weights in {out_dir / 'best.pt'}"
        )
        if output is not None:
            with atomic_path(output) as tmp:
                shutil.copyfile(out_dir / "best.pt", tmp)
            err.print(f"copied to {output}")

    _run(action)


@app.command()
def predict(
    records: Annotated[
        list[str], typer.Argument(help="Records (rec.hea or rec), folders, RECORDS files, or - for paths on stdin.")
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="CSV file to write, or - for stdout.")] = "-",
    weights: Annotated[Path | None, typer.Option(help="Weights file (default: shipped weights of --variant).")] = None,
    variant: Annotated[str, typer.Option(help="Shipped model variant when --weights is not given: se or l.")] = "se",
    lead: Annotated[str | None, typer.Option(help="Lead name or 0-based index (default: first ECG lead).")] = None,
    threshold: Annotated[float | None, typer.Option(help="AF threshold on p_af (default: the weights' own).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Search folders recursively.")] = False,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
) -> None:
    """Label every window of each record AF / non-AF / unreadable; write one CSV table.

    Columns: record,start_s,end_s,label,p_af,problem. Progress and errors go to stderr, so
    '-o -' composes with shell pipelines.
    """
    from afdetect.predict import Predictor, predict_to_csv, set_inference_threads

    set_inference_threads(threads)

    def action() -> int:
        predictor = Predictor.from_weights(weights, None if weights else variant, threshold)
        return predict_to_csv(predictor, records, output, lead=lead, recursive=recursive, errors=err)

    raise typer.Exit(_run(action))


@app.command("eval")
def evaluate_command(
    inputs: Annotated[
        list[Path], typer.Argument(help="A windows file (.npz from preprocess) or labelled record folders/records.")
    ],
    weights: Annotated[Path | None, typer.Option(help="Weights file (default: shipped weights of --variant).")] = None,
    variant: Annotated[str, typer.Option(help="Shipped model variant when --weights is not given: se or l.")] = "se",
    split: Annotated[
        str, typer.Option(help="Records of a windows file to use: all, train, val or test (as split by train).")
    ] = "all",
    out_dir: Annotated[Path, typer.Option(help="Folder for metrics.json, per_record.csv and PNGs.")] = Path("eval"),
    lead: Annotated[str | None, typer.Option(help="Lead for record inputs (default: first ECG lead).")] = None,
    threshold: Annotated[float | None, typer.Option(help="AF threshold (default: the weights' own).")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
) -> None:
    """Accuracy, F1, sensitivity, specificity, PPV, AUROC, confusion matrix and per-record table."""
    from afdetect.dataset import load_window_set, windows_from_records
    from afdetect.evaluate import evaluate, select_split, write_report
    from afdetect.predict import Predictor, set_inference_threads
    from afdetect.records import find_records

    set_inference_threads(threads)

    def action() -> None:
        predictor = Predictor.from_weights(weights, None if weights else variant, threshold)
        if len(inputs) == 1 and inputs[0].suffix == ".npz":
            ws = load_window_set(inputs[0])
            mask = select_split(ws, split, predictor.meta)
        else:
            ws = windows_from_records(find_records([str(i) for i in inputs]), lead=lead)
            mask = None
        result = evaluate(predictor, ws, mask)
        written = write_report(result, out_dir, title=predictor.meta["model"])
        table = Table(title=f"{predictor.meta['model']} on {', '.join(map(str, inputs))} ({split})")
        table.add_column("level")
        metric_names = ("n", "accuracy", "f1", "sensitivity", "specificity", "ppv", "auroc")
        for name in metric_names:
            table.add_column(name, justify="right")
        for level, metrics in (("window", result.window), ("record", result.record)):
            table.add_row(level, *(_fmt(metrics[name]) for name in metric_names))
        Console().print(table)
        err.print(f"threshold {result.threshold:.3f}; wrote {', '.join(str(p) for p in written)}")

    _run(action)


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # e.g. `afdetect predict ... -o - | head`
        sys.stderr.close()
        sys.exit(EXIT_USAGE)
