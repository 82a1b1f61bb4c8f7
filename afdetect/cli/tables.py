"""Rich tables of the command line: metrics, EC57 episode statistics, AF burden."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from afdetect.config import SUMMARY_TABLE_MAX_ROWS


def fmt_value(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def print_eval_result(result: Any, title: str) -> None:
    """``eval``'s results on stdout: window and record metrics, EC57 episode statistics when the
    records have rhythm annotations, the challenge score when the method gives four classes."""
    table = Table(title=title)
    table.add_column("level")
    metric_names = ("n", "accuracy", "f1", "sensitivity", "specificity", "ppv", "auroc")
    for name in metric_names:
        table.add_column(name, justify="right")
    for level, metrics in (("window", result.window), ("record", result.record)):
        table.add_row(level, *(fmt_value(metrics[name]) for name in metric_names))
    Console().print(table)
    if result.ec57 is not None:
        Console().print(ec57_table(result.ec57))
    if result.challenge is not None:
        score = {k: f"{100 * v:.1f} %" if v == v else "–" for k, v in result.challenge.items()}  # NaN: –
        Console().print(
            f"CinC 2017 challenge F1(N, A, O) {score['mean']} "
            f"(N {score['f1_N']}, A {score['f1_A']}, O {score['f1_O']}; – where a class is absent)"
        )


def ec57_table(ec57: dict) -> Table:
    """EC57 AF episode statistics: per record (first ``SUMMARY_TABLE_MAX_ROWS``), gross, average.

    ESe and E+P show their counts: ``(TPs/reference episodes)`` and ``(TPp/test episodes)``.
    """
    table = Table(title="EC57 AF episodes (epicmp-style)")
    table.add_column("record", overflow="fold")
    for name in ("ESe", "E+P", "DSe", "D+P", "ref AF", "test AF"):
        table.add_column(name, justify="right")

    def pct(value: float) -> str:
        return "-" if value != value else f"{100 * value:.0f}%"  # NaN: undefined

    def cells(row: dict) -> list[str]:
        return [
            f"{pct(row['episode_se'])} ({row['ref_detected']}/{row['ref_episodes']})",
            f"{pct(row['episode_ppv'])} ({row['test_true']}/{row['test_episodes']})",
            pct(row["duration_se"]),
            pct(row["duration_ppv"]),
            fmt_duration(row["ref_duration_s"]),
            fmt_duration(row["test_duration_s"]),
        ]

    rows = ec57["records"]
    for row in rows[:SUMMARY_TABLE_MAX_ROWS]:
        table.add_row(row["record"], *cells(row))
    average = ec57["average"]
    table.add_section()
    table.add_row("gross", *cells(ec57["gross"]))
    table.add_row(
        "average", *(pct(average[name]) for name in ("episode_se", "episode_ppv", "duration_se", "duration_ppv"))
    )
    if len(rows) > SUMMARY_TABLE_MAX_ROWS:
        table.caption = f"first {SUMMARY_TABLE_MAX_ROWS} of {len(rows)} records (metrics.json holds all)"
    return table


def fmt_duration(seconds: float) -> str:
    """``H:MM:SS`` of a duration in s."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def burden_table(summaries: list[dict]) -> Table:
    """Per-record AF burden table (first ``SUMMARY_TABLE_MAX_ROWS`` records, full names) and a totals line.

    ``AF windows`` counts the windows labelled AF and the time they own, beside the burden of
    the episodes, so a lone AF window too short for an episode is visible.
    """
    table = Table(title="AF burden")
    table.add_column("record", overflow="fold")
    for name in ("analysed", "unreadable", "AF windows", "AF burden %", "episodes", "longest"):
        table.add_column(name, justify="right")

    def cells(row: dict[str, Any]) -> list[str]:
        burden = row["af_burden_pct"]
        return [
            fmt_duration(row["analysed_s"]),
            fmt_duration(row["unreadable_s"]),
            f"{row['af_windows']} ({fmt_duration(row['af_window_s'])})",
            "-" if burden is None else f"{burden:.1f}",
            str(row["episodes"]),
            fmt_duration(row["longest_episode_s"]),
        ]

    for row in summaries[:SUMMARY_TABLE_MAX_ROWS]:
        table.add_row(str(row["record"]), *cells(row))
    table.add_section()
    table.add_row(
        f"total ({len(summaries)} record{'' if len(summaries) == 1 else 's'})", *cells(burden_totals(summaries))
    )
    if len(summaries) > SUMMARY_TABLE_MAX_ROWS:
        table.caption = f"first {SUMMARY_TABLE_MAX_ROWS} of {len(summaries)} records (--summary FILE holds all)"
    return table


def burden_totals(summaries: list[dict]) -> dict[str, Any]:
    """Sums over records in the keys of a summary: the burden is total AF time over total readable time.

    Example
    -------
    >>> rows = [{"analysed_s": 60.0, "unreadable_s": 0.0, "af_s": 30.0, "af_windows": 2, "af_window_s": 30.0,
    ...          "episodes": 1, "longest_episode_s": 30.0}] * 2
    >>> burden_totals(rows)["af_burden_pct"], burden_totals(rows)["episodes"]
    (50.0, 2)
    """
    total: dict[str, Any] = {
        key: sum(row[key] for row in summaries)
        for key in ("analysed_s", "unreadable_s", "af_s", "af_windows", "af_window_s", "episodes")
    }
    readable = total["analysed_s"] - total["unreadable_s"]
    total["af_burden_pct"] = round(100.0 * min(total["af_s"] / readable, 1.0), 2) if readable > 0 else None
    total["longest_episode_s"] = max((row["longest_episode_s"] for row in summaries), default=0.0)
    return total


def provenance_line(provenance: dict[str, Any]) -> str:
    """One stderr line naming the model, its weights' digest (each member's, ``+``-joined, for a
    blend) and the AF threshold used."""
    digest = provenance.get("weights_sha256")
    weights = f", weights sha256 {'+'.join(part[:12] for part in digest.split('+'))}" if digest else ""
    return (
        f"model {provenance['model']}{weights}, AF threshold {provenance['threshold']:.3f}"
        f" (afdetect {provenance['afdetect_version']})"
    )


def print_table(table: Table, console: Console | None = None) -> None:
    """Print a table on stderr; off a terminal (a log file) at its natural width, so no row wraps."""
    if console is None:
        from afdetect.cli.common import err

        console = err
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update(width=100_000), table).maximum
    width = console.width
    console.width = max(natural, width)  # Console.print(width=) cannot exceed the console's width
    try:
        console.print(table)
    finally:
        console.width = width
