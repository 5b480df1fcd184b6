"""Running a study: one cell, the local, process-pool and Ray backends, the study runner, verify and reproduce."""
