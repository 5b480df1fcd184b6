"""How a study runs, as opposed to what it trains: one value passed from the API to the backends."""

from __future__ import annotations

from dataclasses import dataclass, field

from study.errors import StudyError

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class RunOptions:
    """The knobs of `study run`: retrain finished cells, parallelism and backend, the progress bar, the store
    and extra parent tags (a reproduction's link to its original). Invalid values raise StudyError."""

    rerun: bool = False
    workers: int = 1
    backend: str = "local"  # local (this process, or `workers` processes) | ray
    progress: bool = True
    ray_address: str | None = None  # a Ray cluster to join; None starts a local instance
    cpus_per_cell: float = 1.0  # CPUs a Ray task declares
    tracking_uri: str | None = None  # None: the CLI's default store
    parent_tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise StudyError(f"workers: must be at least 1, got {self.workers}")
        if self.backend not in BACKENDS:
            raise StudyError(f"backend: {self.backend!r} is not valid (valid: {', '.join(BACKENDS)})")

    @property
    def in_this_process(self) -> bool:
        """Cells train one after another beside this process (the local backend with one worker)."""
        return self.backend == "local" and self.workers == 1
