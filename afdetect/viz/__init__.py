"""Stage 6, figures: plots and the per-record plot driver (``afdetect plot``)."""
