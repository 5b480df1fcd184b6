"""Exception types whose message is the one line the user sees (exit code 2, nothing tracked)."""


class StudyError(Exception):
    """Bad input: a study file, a setting, a data directory. The message is complete and one line."""


class ConfigError(StudyError):
    """A study file or `--set` override that does not validate."""


class DataError(StudyError):
    """A dataset directory or file that is missing, truncated or corrupted."""
