"""Stage 4, detection: the Predictor (windows → ``p_af``) and its scorers, inference threads, runs over many records."""
