"""Stage 6, training: the windows cache, record-wise splits and folds, the torch dataset,
augmentation, the training loop and distributed runs."""
