"""note-seq's MIDI reader without the rest of the package, for tfembed's worker processes.

``import note_seq`` (or of any of its modules) first runs the package's
``__init__``, which imports every module of note-seq: its notebook helpers pull in
bokeh, pandas and IPython, its audio I/O librosa's. That costs about 2 s of CPU time
per process, against 0.2 s for the MIDI reader and the NoteSequence protobuf that
tfembed uses. Each worker process of ``tfembed-embed --workers`` and
``tfembed-prepare --workers`` pays it at every start, on the cores that should be
rendering.

:func:`load_only_used_note_seq_modules` registers the package without running its
``__init__``: ``from note_seq import midi_io`` then loads ``midi_io`` and what it
imports, nothing else. The package's top-level names (``note_seq.Melody``, ...) are
missing afterwards, so only processes that tfembed starts call it; a user's own
process, where tfembed is a library, imports note-seq as usual.
"""

from __future__ import annotations

import importlib.util
import sys

PACKAGE = "note_seq"


def load_only_used_note_seq_modules() -> bool:
    """Registers note-seq so that importing one of its modules loads only that module.

    Call it first thing in a worker process, before anything imports note-seq.

    Returns:
        Whether the package was registered; ``False`` if note-seq was already
        imported in this process (it stays as it is) or is not installed.
    """
    if PACKAGE in sys.modules:
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        return False
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    return True
