"""MIDI files or the music21 corpus -> rendered, labelled clips in sharded TFRecords."""

from tfembed.errors import TfembedError

DEFAULT_MAX_PIECE_SECONDS = 1200.0
"""Length cap of a piece: preparation and ``tfembed-embed`` cut longer MIDI files here."""


class PrepareError(TfembedError):
    """Preparation cannot run or produced nothing; the message says why."""
