"""One exception family, so every stage can turn a fault into a one-line message and exit non-zero."""


class FmnistError(Exception):
    """A fault the user can act on; its message is one line and names the culprit."""


class ParamsError(FmnistError):
    """params.yaml holds an unknown key, a wrong type or a value out of range."""


class DataError(FmnistError):
    """A data file is missing, truncated, corrupt or inconsistent."""
