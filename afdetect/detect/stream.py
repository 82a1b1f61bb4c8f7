"""Many records through one scorer: windows of consecutive records scored in shared batches.

A folder of short strips (one or two windows each) would otherwise pay the scorer's per-call
cost, a prefetch hand-off and the per-record set-up once per record. Here a background thread
opens each record (its header read and validated once, strictly), reads and cuts its windows
chunk by chunk, packs the chunks of consecutive records into *packets* of at least
``batch_windows`` windows, conditions each packet's windows together (one call per sampling
rate) and hands the packets over one at a time. The scorer (any
:data:`~afdetect.detect.predictor.Scorer`: the CNN, the trees or the RR baseline) sees each
packet's readable windows in one call; its probabilities are routed back to their records in
order.

:func:`iter_record_rows` yields ``(record, rows)`` for every record in input order: ``rows``
iterates the record's :class:`~afdetect.detect.rows.WindowRows` chunk by chunk and raises the
record's error where it failed, so a caller writes (or rolls back) a record as one unit and a
bad record fails alone. If a packet's conditioning or scoring call fails, each record of the
packet is conditioned or scored alone, so the failure stays with the record that caused it.

Values do not depend on the packing: every window is conditioned on its own, and every scorer
scores each window on its own (the CNN's batch norm uses running statistics).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from afdetect.detect.predictor import Predictor
from afdetect.detect.rows import WindowRows
from afdetect.io.header import RecordInfo
from afdetect.io.record import Record
from afdetect.signal.windows import (
    DEFAULT_CHUNK_WINDOWS,
    RawChunk,
    WindowBatch,
    condition_chunks,
    prefetch,
    record_chunks,
)

DEFAULT_BATCH_WINDOWS = DEFAULT_CHUNK_WINDOWS
"""Windows per packet handed to the scorer (about 1 h of a Holter record, or some 200 strips)."""


@dataclass
class _Piece:
    """One chunk of a record's windows (``raw``, then conditioned: ``batch``), or the error that ended the record."""

    index: int
    record: Path
    info: RecordInfo | None = None
    raw: RawChunk | None = None
    batch: WindowBatch | None = None
    error: BaseException | None = None
    p_af: np.ndarray | None = None


def iter_record_rows(
    predictor: Predictor,
    records: Sequence[Path],
    *,
    lead: str | int | None = None,
    span_s: tuple[float, float] | None = None,
    chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
    batch_windows: int = DEFAULT_BATCH_WINDOWS,
) -> Iterator[tuple[Path, Iterator[WindowRows]]]:
    """Yield ``(record, rows)`` for every record, in input order, scoring windows of many records at once.

    Parameters
    ----------
    predictor : Predictor
        The window scorer, threshold and preprocessing.
    records : sequence of Path
        Records (paths without extension).
    lead : str or int or None
        Lead of every record (default: lead II, else its first ECG lead; :func:`~afdetect.io.signals.select_lead`).
    span_s : (float, float), optional
        Only the windows overlapping this part of each record (s from its start).
    chunk_windows : int
        Windows read and conditioned at a time within one record (flat memory on long records).
    batch_windows : int
        Least windows per scorer call (the last packet may hold fewer).

    Yields
    ------
    record : Path
        The record.
    rows : iterator of WindowRows
        Its rows, chunk by chunk; iterating raises the record's error (a :class:`RecordError`,
        or whatever else failed) after the rows of the chunks before the failure. Moving on to
        the next record without exhausting ``rows`` skips the rest of them.

    Example
    -------
    >>> for record, rows in iter_record_rows(predictor, records):  # doctest: +SKIP
    ...     n = sum(len(r) for r in rows)
    """
    pieces = _pieces(predictor, records, lead, span_s, chunk_windows)
    packets = (_condition(predictor, packet) for packet in _packets(pieces, batch_windows))
    scored = (piece for packet in prefetch(packets) for piece in _score(predictor, packet))
    for (_, record), group in itertools.groupby(scored, key=lambda piece: (piece.index, piece.record)):
        yield record, _record_rows(predictor, group)


def _pieces(
    predictor: Predictor,
    records: Sequence[Path],
    lead: str | int | None,
    span_s: tuple[float, float] | None,
    chunk_windows: int,
) -> Iterator[_Piece]:
    """Each record's chunks of windows as read, then its error if it fails (in the prefetch thread)."""
    for index, record in enumerate(records):
        info = None
        try:
            opened = Record.open(record, lead)
            info = opened.info
            for raw in record_chunks(
                info,
                opened.lead_index,
                preprocessing=predictor.preprocessing,
                chunk_windows=chunk_windows,
                span_s=span_s,
            ):
                yield _Piece(index, record, info, raw)
        except Exception as exc:  # any failure fails this record alone, raised where its rows are read
            yield _Piece(index, record, info, error=exc)


def _packets(pieces: Iterable[_Piece], batch_windows: int) -> Iterator[list[_Piece]]:
    """Consecutive pieces grouped until a group holds ``batch_windows`` windows (one hand-off each)."""
    packet: list[_Piece] = []
    windows = 0
    for piece in pieces:
        packet.append(piece)
        windows += 0 if piece.raw is None else len(piece.raw.starts)
        if windows >= batch_windows:
            yield packet
            packet, windows = [], 0
    if packet:
        yield packet


def _condition(predictor: Predictor, packet: list[_Piece]) -> list[_Piece]:
    """Condition a packet's windows together (in the prefetch thread); if that fails, each record alone."""
    reading = [piece for piece in packet if piece.raw is not None]
    try:
        batches = condition_chunks([piece.raw for piece in reading], predictor.preprocessing)  # type: ignore[misc]
    except Exception:
        batches = []
        for piece in reading:
            try:
                batches.append(condition_chunks([piece.raw], predictor.preprocessing)[0])  # type: ignore[list-item]
            except Exception as exc:  # this record fails alone
                batches.append(None)
                piece.error = exc
    for piece, batch in zip(reading, batches, strict=True):
        piece.raw, piece.batch = None, batch
    return packet


def _score(predictor: Predictor, packet: list[_Piece]) -> list[_Piece]:
    """Score a packet's windows in one call; if it fails, score each record alone (its failure kept to it)."""
    scoring = [piece for piece in packet if piece.batch is not None]
    if not scoring:
        return packet
    try:
        p_af = predictor.score(_joined(piece.batch for piece in scoring))  # type: ignore[misc]
    except Exception:
        for _, group in itertools.groupby(scoring, key=lambda piece: piece.index):
            _score_alone(predictor, list(group))
        return packet
    bounds = np.cumsum([0] + [len(piece.batch.x) for piece in scoring])  # type: ignore[union-attr]
    for piece, start, stop in zip(scoring, bounds[:-1], bounds[1:], strict=True):
        piece.p_af = p_af[start:stop]
    return packet


def _score_alone(predictor: Predictor, pieces: list[_Piece]) -> None:
    """Score one record's pieces of a failed packet; on failure its first piece carries the error."""
    try:
        for piece in pieces:
            piece.p_af = predictor.score(piece.batch)  # type: ignore[arg-type]
    except Exception as exc:
        pieces[0].batch, pieces[0].error = None, exc


def _joined(batches: Iterable[WindowBatch]) -> WindowBatch:
    """The windows of several batches as one (for scoring only: times are not used)."""
    batches = list(batches)
    if len(batches) == 1:
        return batches[0]
    x = np.concatenate([b.x for b in batches])
    problems = [problem for b in batches for problem in b.problems]
    return WindowBatch(np.zeros(len(x)), np.zeros(len(x)), x, problems)


def _record_rows(predictor: Predictor, pieces: Iterable[_Piece]) -> Iterator[WindowRows]:
    """A record's rows, chunk by chunk, until its error (raised) or its end."""
    for piece in pieces:
        if piece.error is not None:
            raise piece.error
        if piece.batch is not None and piece.p_af is not None:
            record = piece.record if piece.info is None else piece.info.path
            yield predictor.rows(str(record), piece.batch, piece.p_af, piece.info)
