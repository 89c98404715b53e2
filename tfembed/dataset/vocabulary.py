"""The values a clip's labels take (:class:`tfembed.dataset.schema.ClipLabels`).

Readable without TensorFlow: preparation writes these values, evaluation reads them.
"""

UNKNOWN = -1
"""Label value of a clip whose key signature or composer is unknown."""

KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
"""Names of the 12 key-signature classes (major keys; minor keys map to these)."""
