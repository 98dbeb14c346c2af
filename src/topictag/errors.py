"""Exceptions meant to be shown to users.

The library raises these; the CLI turns them into one-line ``Error: ...`` messages.
"""


class TopictagError(Exception):
    """Base class for every error topictag reports to a user."""


class DataError(TopictagError):
    """Input data cannot be read or does not have the expected shape."""


class ModelError(TopictagError):
    """A model bundle cannot be loaded, saved or used."""
