"""note-seq's MIDI reader loaded alone, as tfembed's worker processes load it."""

from __future__ import annotations

import subprocess
import sys

from midi_files import scale_notes, write_raw_midi

from tfembed.preparation.midi import parse_midi
from tfembed.preparation.note_seq_modules import load_only_used_note_seq_modules

READ_ALONE = """
import sys
from tfembed.preparation.note_seq_modules import load_only_used_note_seq_modules
assert load_only_used_note_seq_modules()
from tfembed.preparation.midi import parse_midi
with open(sys.argv[2], "wb") as out:
    out.write(parse_midi(sys.argv[1]).sequence.SerializeToString())
heavy = ("bokeh", "pandas", "IPython", "librosa")
print("\\n", sorted(name for name in heavy if name in sys.modules), file=sys.stderr)
"""


def test_a_fresh_process_reads_midi_with_the_reader_alone(tmp_path) -> None:
    path = write_raw_midi(tmp_path / "scale.mid", scale_notes(6.0))
    serialized = tmp_path / "sequence.pb"
    done = subprocess.run(
        [sys.executable, "-c", READ_ALONE, str(path), str(serialized)],
        capture_output=True,
        check=True,
    )
    assert done.stderr.decode().strip().endswith("[]")
    assert serialized.read_bytes() == parse_midi(path).sequence.SerializeToString()


def test_an_imported_note_seq_stays_as_it_is() -> None:
    import note_seq

    assert not load_only_used_note_seq_modules()
    assert sys.modules["note_seq"] is note_seq and hasattr(note_seq, "midi_file_to_note_sequence")
