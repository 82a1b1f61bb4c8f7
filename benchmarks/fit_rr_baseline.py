"""Fit the RR-baseline's logistic score on the training records of the CinC 2017 windows.

The split is the trainer's default record-wise split (``afdetect.training.splits.split_records`` with
the ``TrainConfig`` default fractions and seed), so the RR baseline and ECGCNN learn from
the same training records and neither sees the validation or test records. Coefficients
and the F1-optimal threshold are fitted on the training windows only; validation and test
metrics are printed for information. Nothing is written: paste the printed constants into
``afdetect/rr.py`` (``SCORE_*``) and ``afdetect/config.py`` (``RR_THRESHOLD``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fit_rr_baseline.py [runs/cinc2017.npz] [--check]

``--check`` scores every split with the constants now in the package instead of fitting.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from afdetect.config import RR_THRESHOLD, RR_UNDETERMINED_P
from afdetect.detect import rr as rr_score
from afdetect.evaluate.metrics import best_threshold, binary_metrics
from afdetect.signal import rr
from afdetect.training.cache import load_window_set
from afdetect.training.options import TrainConfig
from afdetect.training.splits import split_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="runs/cinc2017.npz", type=Path)
    parser.add_argument("--check", action="store_true", help="Score with the package's constants; fit nothing.")
    args = parser.parse_args()

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    ws = load_window_set(args.data)
    split = split_records(ws.record_targets(), defaults["val_fraction"], defaults["test_fraction"], defaults["seed"])
    window_split = split[ws.record_index]
    labelled = np.flatnonzero(ws.labels >= 0)
    started = time.time()
    features = rr.window_features(np.asarray(ws.windows[labelled], dtype=np.float32))
    print(f"features of {len(labelled)} windows in {time.time() - started:.1f} s")
    y = ws.labels[labelled]
    parts = {name: window_split[labelled] == code for code, name in enumerate(("train", "val", "test"))}
    train = parts["train"]

    if args.check:
        p = rr_score.score_features(features)
        threshold = RR_THRESHOLD
    else:
        score = rr_score.fit_score({k: v[train] for k, v in features.items()}, y[train])
        p = rr_score.score_features(features, score=score)
        threshold = best_threshold(y[train], p[train])
        print(f"fitted on the training windows ({int(y[train].sum())} AF) of {int((split == 0).sum())} records")
        print(f"SCORE_FEATURES = {rr_score.SCORE_FEATURES}")
        print(f"SCORE_MEAN = {tuple(round(v, 4) for v in score.mean)}")
        print(f"SCORE_SCALE = {tuple(round(v, 4) for v in score.scale)}")
        print(f"SCORE_WEIGHTS = {tuple(round(v, 4) for v in score.weights)}")
        print(f"SCORE_BIAS = {round(score.bias, 4)}")
        print(f"RR_THRESHOLD = {threshold}  (F1-optimal on the training windows)")
    undetermined = np.isclose(p, RR_UNDETERMINED_P) & ~np.all(
        np.isfinite(np.stack([features[n] for n in rr_score.SCORE_FEATURES], axis=1)), axis=1
    )
    print(f"windows with fewer than RR_MIN_BEATS beats: {int(undetermined.sum())}")
    print(f"{'part':6} {'n':>5} {'AF':>4} {'F1':>6} {'sens':>6} {'spec':>6} {'PPV':>6} {'AUROC':>6}")
    for name, mask in parts.items():
        m = binary_metrics(y[mask], p[mask], threshold)
        print(
            f"{name:6} {m['n']:5d} {m['tp'] + m['fn']:4d} {m['f1']:6.3f} {m['sensitivity']:6.3f} "
            f"{m['specificity']:6.3f} {m['ppv']:6.3f} {m['auroc']:6.3f}"
        )


if __name__ == "__main__":
    main()
