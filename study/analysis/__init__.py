"""Statistics over a study's runs: per-cell summaries, confidence intervals, effects."""
