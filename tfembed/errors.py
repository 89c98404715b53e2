"""The root of every error a user can cause, and its kinds (no heavy imports here).

Each console entry point catches :class:`TfembedError` once and prints
``tfembed-NAME: error: MESSAGE`` without a traceback; messages name the file and
the fix. Exit status: 2 for a :class:`ConfigError` (a bad option, config or model
name, as argparse exits on a bad command line), 1 for any other error.
"""


class TfembedError(Exception):
    """An error caused by the user's input, files or options; the message says what to do."""


class PieceError(TfembedError):
    """A piece (or input file) that cannot be prepared or embedded; the message says why."""


class DatasetError(TfembedError):
    """A prepared dataset is missing, incomplete or does not match a request."""


class ConfigError(TfembedError):
    """A gin config or option that cannot be used."""


class RunError(TfembedError):
    """A training run folder that cannot be used as asked."""


class ExportError(TfembedError):
    """An export that cannot be written or read."""


class UnknownModelError(ExportError, ConfigError):
    """A model name or folder that does not exist (a usage error: exit status 2)."""


class InputError(TfembedError, ValueError):
    """An array, rate or option given in Python that the model cannot take.

    Also a ``ValueError``, so code that caught NumPy's errors still catches it.
    """
