"""Stage 2, signal processing: filters, conditioning, quality, windows (a record becomes window
batches), beats and RR statistics. NumPy only; SciPy only in the RR baseline (imported on use)."""
