"""Rich tables of the command line: metrics, EC57 episode statistics, AF burden."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from afdetect.config import SUMMARY_TABLE_MAX_ROWS


def fmt_value(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4f}"


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
    """Per-record AF burden table (first ``SUMMARY_TABLE_MAX_ROWS`` records)."""
    table = Table(title="AF burden")
    table.add_column("record", overflow="fold")
    for name in ("analysed", "unreadable", "AF burden %", "episodes", "longest"):
        table.add_column(name, justify="right")
    for row in summaries[:SUMMARY_TABLE_MAX_ROWS]:
        burden = row["af_burden_pct"]
        record = Path(row["record"])
        table.add_row(
            f"{record.parent.name}/{record.name}" if record.parent.name else record.name,
            fmt_duration(row["analysed_s"]),
            fmt_duration(row["unreadable_s"]),
            "-" if burden is None else f"{burden:.1f}",
            str(row["episodes"]),
            fmt_duration(row["longest_episode_s"]),
        )
    if len(summaries) > SUMMARY_TABLE_MAX_ROWS:
        table.caption = f"first {SUMMARY_TABLE_MAX_ROWS} of {len(summaries)} records (--summary FILE holds all)"
    return table
