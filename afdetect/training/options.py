"""Training options: one dataclass that is the library's config and the ``train`` command's flags.

Light to import (no torch): the CLI builds its ``train`` options from :class:`TrainConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afdetect.config import (
    AUGMENT_P,
    MODEL_CLASSES,
    TEST_FRACTION,
    TRAIN_BATCH,
    TRAIN_CLASSES,
    TRAIN_EPOCHS,
    TRAIN_LR,
    TRAIN_PATIENCE,
    TRAIN_WEIGHT_DECAY,
    VAL_FRACTION,
)
from afdetect.errors import ParameterError

TRAIN_METHODS: tuple[str, ...] = ("cnn", "trees")
"""What ``train --method`` trains: ECGCNN (:mod:`afdetect.training.loop`) or the rhythm trees
(:mod:`afdetect.training.trees`)."""


def flag(help_text: str, *flags: str) -> dict[str, Any]:
    """Metadata that makes a :class:`TrainConfig` field a CLI option (flags: ``--name-with-dashes`` unless given)."""
    return {"help": help_text, "flags": flags}


@dataclass
class TrainConfig:
    """Options of a training run, defined once: the CLI's ``train`` flags are made from these fields.

    A field with a ``help`` in its metadata is a flag (``--name-with-dashes`` unless its
    metadata names others); the others (``weight_decay``, ``model_overrides``) are library-only.

    ``batch_size`` is per process under ``torchrun``. ``amp`` (mixed precision: float16
    autocast and gradient scaling) needs a CUDA device; :func:`train` refuses it on the CPU.
    ``classes`` is the number of classes ECGCNN learns (:data:`~afdetect.config.MODEL_CLASSES`;
    the model's ``n_classes``); ``--method trees`` always learns CinC's four.
    ``folds`` ≥ 2 turns on K-fold cross-validation with ``fold`` (0-based) as the test fold;
    ``test_fraction`` is then unused (the test fold holds about ``1 / folds`` of the
    records). ``folds = 0`` (default) is the plain train/validation/test split.
    """

    data: Path = field(metadata=flag("Windows file from 'afdetect preprocess'."))
    out_dir: Path = field(default=Path("runs/se"), metadata=flag("Folder for checkpoints, metrics and curves."))
    method: str = field(
        default="cnn",
        metadata=flag(
            "cnn: ECGCNN of --variant; trees: gradient-boosted trees on rhythm features (writes best.json;"
            " epoch, batch, learning-rate, augmentation and device options do not apply)."
        ),
    )
    variant: str = field(
        default="se",
        metadata=flag(
            "Model variant: se (ECGCNN_SE), l (ECGCNN_L), resnet (signal ResNet), or a hybrid that also takes "
            "the windows' rhythm features (se-rhythm, se-rhythm-head, resnet-rhythm; needs a windows file with "
            "cached features)."
        ),
    )
    classes: int = field(
        default=TRAIN_CLASSES,
        metadata=flag(
            "ECGCNN's classes: 2 (AF against the rest) or 4 (CinC 2017's N, A, O, ~; rhythm-annotated windows"
            " count as A or N); p_af is P(AF) or P(A). The trees always learn the four."
        ),
    )
    epochs: int = field(default=TRAIN_EPOCHS, metadata=flag("Maximum epochs."))
    batch_size: int = field(default=TRAIN_BATCH, metadata=flag("Windows per batch."))
    lr: float = field(default=TRAIN_LR, metadata=flag("Peak learning rate (one-cycle schedule)."))
    weight_decay: float = TRAIN_WEIGHT_DECAY
    val_fraction: float = field(default=VAL_FRACTION, metadata=flag("Fraction of records for validation."))
    test_fraction: float = field(
        default=TEST_FRACTION, metadata=flag("Fraction of records held out for testing (unused with --folds).")
    )
    seed: int = field(default=0, metadata=flag("Random seed (split, initialisation, augmentation)."))
    split_seed: int | None = field(
        default=None,
        metadata=flag(
            "Seed of the record split and folds alone (default: --seed); training again with another --seed "
            "and the same --split-seed tests the same records."
        ),
    )
    patience: int = field(
        default=TRAIN_PATIENCE, metadata=flag("Stop after this many epochs without a better validation F1.")
    )
    augment_p: float = field(default=AUGMENT_P, metadata=flag("Probability of each augmentation."))
    device: str = field(
        default="auto",
        metadata=flag("auto (CUDA when present, else CPU), cpu, cuda or cuda:N (cuda:LOCAL_RANK in torchrun)."),
    )
    num_workers: int = field(
        default=0, metadata=flag("Data-loader worker processes (per training process).", "--workers")
    )
    resume: bool = field(default=False, metadata=flag("Continue from OUT_DIR/last.pt.", "--resume/--no-resume"))
    amp: bool = field(
        default=False,
        metadata=flag("Mixed precision (float16 autocast + gradient scaling); CUDA only.", "--amp/--no-amp"),
    )
    model_overrides: dict[str, Any] = field(default_factory=dict)
    folds: int = field(
        default=0,
        metadata=flag(
            "K-fold cross-validation: deal the records into K folds stratified by AF (0: no folds, "
            "the --test-fraction split)."
        ),
    )
    fold: int = field(
        default=0, metadata=flag("With --folds K: the 0-based fold (0 .. K-1) held out as the test split.")
    )

    @property
    def record_seed(self) -> int:
        """The seed of the record split and folds: ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    def validate(self) -> None:
        """Check option ranges; raise :class:`UsageError` naming the bad option."""
        from afdetect.models.registry import model_config

        try:
            model_config(self.variant)
        except ValueError as exc:
            raise ParameterError(f"{{variant}}: {exc}") from None
        checks = [
            (
                self.method in TRAIN_METHODS,
                f"{{method}} must be one of {', '.join(TRAIN_METHODS)}, got {self.method!r}",
            ),
            (
                self.classes in MODEL_CLASSES,
                f"{{classes}} must be one of {', '.join(map(str, MODEL_CLASSES))}, got {self.classes}",
            ),
            (
                self.model_overrides.get("n_classes", self.classes) == self.classes,
                f"model_overrides' n_classes contradicts {{classes}} {self.classes}",
            ),
            (self.epochs >= 1, "{epochs} must be at least 1"),
            (self.batch_size >= 2, "{batch_size} must be at least 2"),
            (self.lr > 0, "{lr} must be positive"),
            (0 < self.val_fraction < 1, "{val_fraction} must lie in (0, 1)"),
            (0 <= self.test_fraction < 1 - self.val_fraction, "{test_fraction} must lie in [0, 1 - val)"),
            (0 <= self.augment_p <= 1, "{augment_p} must lie in [0, 1]"),
            (
                self.folds == 0 or self.folds >= 2,
                f"{{folds}} must be 0 (no cross-validation) or at least 2, got {self.folds}",
            ),
            (self.folds >= 2 or self.fold == 0, f"{{fold}} {self.fold} needs {{folds}} (K-fold cross-validation)"),
            (
                self.folds < 2 or 0 <= self.fold < self.folds,
                f"{{fold}} must lie in [0, {{folds}} - 1] = [0, {self.folds - 1}], got {self.fold}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(message)
