"""Stage 5, rhythm: interval arithmetic, AF episodes from per-window tables, burden outputs."""
