"""Exception types whose message is the one line the user sees: bad input (exit code 2, nothing
tracked), and a store that failed under a run (exit 2, or 1 once cells had started)."""


class StudyError(Exception):
    """Bad input: a study file, a setting, a data directory. The message is complete and one line."""


class ConfigError(StudyError):
    """A study file or `--set` override that does not validate."""


class DataError(StudyError):
    """A dataset directory or file that is missing, truncated or corrupted."""


class StoreFault(Exception):
    """The store failed under a run (full, locked, read-only, a server gone): the message is the one
    line the user sees; `exit_code` is 1 once a cell had started (it ended FAILED with the message
    where the store took that write), else 2."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message, exit_code)  # both in args: the exception survives pickling
        self.exit_code = exit_code

    def __str__(self) -> str:
        return str(self.args[0])


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, Slurm, systemd, `docker stop`), raised where Ctrl-C raises KeyboardInterrupt so a
    run ends the same way: open runs closed KILLED, the training process stopped; exit code 143."""
