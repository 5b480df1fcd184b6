"""A study becomes work: the cells of a grid, or the search space its trials are sampled from."""
