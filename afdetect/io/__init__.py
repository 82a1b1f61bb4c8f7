"""Stage 1, input and output: find WFDB records; read headers, leads, signals, rhythm annotations
and reference labels; write outputs atomically."""
