"""Exceptions meant to be shown to users.

The library raises these; the CLI turns them into one-line ``Error: ...`` messages. :class:`DataError` is
also a ``ValueError``, so code written for scikit-learn's conventions catches bad input the usual way.
"""


class TopictagError(Exception):
    """Base class for every error topictag reports to a user."""


class DataError(TopictagError, ValueError):
    """Input data cannot be read or does not have the expected shape."""


class ModelError(TopictagError):
    """A model bundle cannot be loaded, saved or used."""


class OutputError(TopictagError):
    """An output file cannot be written (missing folder, a folder in the way, full disk, another run holds it)."""


class UsageError(TopictagError, ValueError):
    """Options that do not go together (the CLI exits with code 2, as for any usage error)."""
