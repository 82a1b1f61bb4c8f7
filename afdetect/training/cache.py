"""The preprocessed windows file: one uncompressed ``.npz``, memory-mapped when read.

Arrays
------
windows      (n, samples) float16  conditioned model input at ``MODEL_FS``
labels       (n,) int8             1 AF, 0 non-AF, ``IGNORE_LABEL`` mixed/flutter
record_index (n,) int32            row of ``records`` the window comes from
start_s      (n,) float32          window start in its record (s)
end_s        (n,) float32          end of real signal in the window (s)
records      (r,) str              record names (``source/name``)
record_labels (r,) str             record-level source label (``A``/``N``/``O``/``~`` or
                                   ``AF``/``non-AF`` from rhythm annotations)
provenance   () str                JSON: preprocessing (:class:`~afdetect.config.Preprocessing`),
                                   sources, counts, version, time, ``feature_names``,
                                   ``features_version``
features     (n, f) float32        rhythm features of each window (optional; columns
                                   ``provenance["feature_names"]``, computed as
                                   ``provenance["features_version"]`` says, see
                                   :mod:`afdetect.signal.features`), computed from the
                                   float32 windows before they are stored as float16

``np.load`` reads the file as usual; :func:`load_window_set` maps ``windows`` from disk
instead of copying it into memory (the file is a plain stored zip, so the member's bytes
lie contiguously in it).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from afdetect import __version__
from afdetect.config import (
    DEFAULT_PREPROCESSING,
    IGNORE_LABEL,
    Preprocessing,
)
from afdetect.errors import AfdetectError, UsageError, internal_error
from afdetect.io.atomic import atomic_path
from afdetect.io.record import Record
from afdetect.io.reference import record_af_truth, record_key
from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION, rhythm_features
from afdetect.signal.windows import record_windows


@dataclass
class WindowSet:
    """Windows, labels and provenance of a preprocessed data set (see module docstring)."""

    windows: np.ndarray
    labels: np.ndarray
    record_index: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    records: np.ndarray
    record_labels: np.ndarray
    provenance: dict = field(default_factory=dict)
    features: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def preprocessing(self) -> Preprocessing:
        """The preprocessing the windows were made with (files before 0.2 stored its fields flat)."""
        return Preprocessing.from_dict(self.provenance.get("preprocessing", self.provenance))

    @property
    def has_current_features(self) -> bool:
        """Whether the file caches the features this afdetect version computes (same names and
        :data:`~afdetect.signal.features.FEATURES_VERSION`)."""
        return (
            self.features is not None
            and self.provenance.get("feature_names") == list(FEATURE_NAMES)
            and self.provenance.get("features_version") == FEATURES_VERSION
            and self.features.shape[1] == len(FEATURE_NAMES)
        )

    def cached_features(self, n_features: int, path: str | Path | None = None) -> np.ndarray:
        """The cached rhythm features ``(n, n_features)`` float32, for a model that takes them.

        Raises
        ------
        UsageError
            When the file has no cached features, or features of another afdetect version
            (other names or count): rebuild it with ``afdetect preprocess``.
        """
        rebuild = "; rebuild it with 'afdetect preprocess' for a hybrid model"
        if self.features is None:
            raise UsageError(path, f"windows file has no cached rhythm features{rebuild}")
        if not self.has_current_features or self.features.shape[1] != n_features:
            raise UsageError(
                path,
                f"windows file holds {self.features.shape[1]} rhythm features of another afdetect version "
                f"(this one computes {len(FEATURE_NAMES)}, version {FEATURES_VERSION}; the model takes "
                f"{n_features}){rebuild}",
            )
        return np.asarray(self.features, dtype=np.float32)

    def record_targets(self) -> np.ndarray:
        """Record-level AF truth (1 when any window of the record is AF)."""
        return record_af_truth(self.record_index, self.labels, len(self.records))

    def summary(self) -> list[tuple[str, int, int, int, int]]:
        """Per source: (source, records, AF windows, non-AF windows, ignored windows)."""
        sources = np.array([name.split("/")[0] for name in self.records])
        rows = []
        for source in sorted(set(sources)):
            rec_mask = sources == source
            win_mask = rec_mask[self.record_index]
            lab = self.labels[win_mask]
            rows.append(
                (
                    source,
                    int(rec_mask.sum()),
                    int((lab == 1).sum()),
                    int((lab == 0).sum()),
                    int((lab == IGNORE_LABEL).sum()),
                )
            )
        return rows


def save_window_set(ws: WindowSet, path: str | Path) -> None:
    """Write ``ws`` atomically as an uncompressed ``.npz``."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(
            handle,
            windows=ws.windows.astype(np.float16),
            labels=ws.labels.astype(np.int8),
            record_index=ws.record_index.astype(np.int32),
            start_s=ws.start_s.astype(np.float32),
            end_s=ws.end_s.astype(np.float32),
            records=np.asarray(ws.records, dtype=str),
            record_labels=np.asarray(ws.record_labels, dtype=str),
            provenance=np.asarray(json.dumps(ws.provenance)),
            **({} if ws.features is None else {"features": np.asarray(ws.features, dtype=np.float32)}),
        )


def load_window_set(path: str | Path, mmap: bool = True) -> WindowSet:
    """Read a windows file; ``windows`` is memory-mapped unless ``mmap`` is false.

    Raises
    ------
    UsageError
        When the file is missing or not a windows file.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(path, "windows file not found (make one with 'afdetect preprocess')")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != "windows"}
            windows = _mmap_member(path, "windows") if mmap else data["windows"]
        return WindowSet(
            windows=windows,
            labels=arrays["labels"].astype(np.int64),
            record_index=arrays["record_index"].astype(np.int64),
            start_s=arrays["start_s"],
            end_s=arrays["end_s"],
            records=arrays["records"],
            record_labels=arrays["record_labels"],
            provenance=json.loads(str(arrays["provenance"])),
            features=arrays.get("features"),
        )
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise UsageError(path, f"not an afdetect windows file ({type(exc).__name__}: {exc})") from None


def _mmap_member(path: Path, name: str) -> np.ndarray:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"member {name} is compressed and cannot be memory-mapped")
    with path.open("rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        handle.seek(info.header_offset + 30 + name_len + extra_len)
        version = npy_format.read_magic(handle)
        read_header = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
        shape, fortran, dtype = read_header[version](handle)
        offset = handle.tell()
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, order=order, offset=offset)


def windows_from_records(
    records: Iterable[Path],
    *,
    lead: str | int | None = None,
    on_record: Callable[[Path, AfdetectError | None], None] | None = None,
) -> WindowSet:
    """Build a :class:`WindowSet` from labelled records.

    Labels come from the record's ``.atr`` rhythm annotations when present, else from a
    ``REFERENCE.csv`` beside it (CinC 2017 labels, mapped by ``CINC_LABEL_MAP``).
    Unreadable windows are left out. Records with no label or that cannot be read are
    skipped and reported through ``on_record``.

    Parameters
    ----------
    records : iterable of Path
        Record paths (see :func:`afdetect.io.find.find_records`).
    lead : str or int or None
        Lead to use (default: lead II, else the first ECG lead; :func:`~afdetect.io.signals.select_lead`).
    on_record : callable, optional
        Called after each record with its path and the error (``None`` on success).
    """
    references: dict[Path, dict[str, str]] = {}
    parts: list[tuple[np.ndarray, ...]] = []
    names: list[str] = []
    record_labels: list[str] = []
    skipped = 0
    for path in records:
        try:
            record = Record.open(path, lead)
            reference = record.labels(references)
            record_parts = []  # kept only once the whole record is read
            for batch in record_windows(record.info, record.lead_index):
                keep = np.array([p is None for p in batch.problems], dtype=bool)
                labels = reference.label_windows(batch.start_s, batch.end_s)
                index = np.full(int(keep.sum()), len(names))
                record_parts.append((batch.x[keep], labels[keep], batch.start_s[keep], batch.end_s[keep], index))
            parts.extend(record_parts)
            names.append(record_key(path))
            record_labels.append(reference.source_label)
            if on_record:
                on_record(path, None)
        except (AfdetectError, Exception) as exc:  # any failure fails this record alone
            skipped += 1
            if on_record:
                on_record(path, exc if isinstance(exc, AfdetectError) else internal_error(path, exc))
    if not names:
        raise UsageError(None, "no labelled record could be read")
    windows, labels, start_s, end_s, index = (np.concatenate(col) for col in zip(*parts, strict=True))
    ws = WindowSet(
        windows=windows.astype(np.float16),
        labels=labels,
        record_index=index,
        start_s=start_s,
        end_s=end_s,
        records=np.asarray(names),
        record_labels=np.asarray(record_labels),
        features=rhythm_features(windows, DEFAULT_PREPROCESSING.model_fs),
    )
    ws.provenance = {
        "afdetect_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "preprocessing": DEFAULT_PREPROCESSING.to_dict(),
        "lead": lead,
        "sources": sorted({name.split("/")[0] for name in names}),
        "records": len(names),
        "records_skipped": skipped,
        "windows": len(labels),
        "feature_names": list(FEATURE_NAMES),
        "features_version": FEATURES_VERSION,
    }
    return ws
