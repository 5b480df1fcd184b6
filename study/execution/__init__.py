"""Running a study: one cell, the local, process-pool and Ray backends, the driver, verify and reproduce."""
