"""Stage 6, evaluation: metrics, EC57 episode statistics, record evaluation and reports."""
