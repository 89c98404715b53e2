"""Which MIDI file is this recording, and where in it: audio-to-MIDI search with ``joint``.

    python tools/examples/find_recording.py MIDI_FOLDER RECORDING [RECORDING ...]

The shipped ``joint`` model embeds audio (its mel tower) and MIDI (its roll tower,
no rendering) into one space. This indexes the MIDI files once, window by window,
into ``MIDI_FOLDER.index`` (rerun: only new or changed files are read), then slides
each recording's 3-second windows along every file and prints the files whose
windows agree best, with the time in the file where the recording starts. It is
what ``tfembed-search index`` and ``tfembed-search query`` do, through the Python API.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfembed.search.build import index_files
from tfembed.search.index import open_index
from tfembed.search.model import index_embedder
from tfembed.search.query import QueryResult, search_index


def find(
    midi_folder: str | Path,
    recordings: list[str | Path],
    index_folder: str | Path | None = None,
    model: str = "joint",
    top: int = 3,
) -> list[QueryResult]:
    """Indexes the MIDI folder (resuming) and finds each recording in it.

    Args:
        midi_folder: The MIDI files to search in (subfolders too).
        recordings: Audio files (WAV, FLAC, MP3, ...) to look for.
        index_folder: Where the index lives (default: ``MIDI_FOLDER.index`` beside it).
        model: A joint model, by shipped name or export folder.
        top: Matches printed and returned per recording.

    Returns:
        One result per recording: its matches (``file``, ``start`` in seconds,
        ``score``) best first, or why it could not be read.
    """
    midi_folder = Path(midi_folder)
    index_folder = Path(index_folder or f"{midi_folder}.index")
    index_files([midi_folder], index_folder, model=model)
    index = open_index(index_folder)
    results = list(search_index(index, index_embedder(index.record, index_folder), recordings, top))
    for result in results:
        if result.error is not None:
            print(f"{result.query}: {result.error}")
            continue
        print(f"{result.query} ({result.windows} windows):")
        for match in result.matches:
            minutes, seconds = divmod(max(match["start"], 0.0), 60)
            print(
                f"  {match['file']}  from {int(minutes)}:{seconds:04.1f}"
                f"  score {match['score']:.3f}"
            )
    return results


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    find(sys.argv[1], sys.argv[2:])
