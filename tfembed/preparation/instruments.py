"""Who plays a piece when it is rendered (``tfembed-prepare --instruments``).

The paper renders every part with a grand piano; real MIDI collections are written
for many instruments and drums. The piano roll holds the pitched notes alone
whichever is chosen: drums are only heard.
"""

PIANO = "piano"
"""Every pitched part played by the soundfont's grand piano, drums left out (the paper's)."""

AS_WRITTEN = "as_written"
"""Every pitched part played by its own General MIDI program, drums left out."""

AS_WRITTEN_WITH_DRUMS = "as_written_with_drums"
"""Every part as written, the drums played by the soundfont's drum kits too."""

INSTRUMENT_CHOICES = (PIANO, AS_WRITTEN, AS_WRITTEN_WITH_DRUMS)
"""Every choice, the default first."""
