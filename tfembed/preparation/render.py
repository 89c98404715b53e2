"""Rendering a NoteSequence to audio with fluidsynth, once per piece.

Every note is played by its General MIDI program (program 0, the acoustic grand
piano, once cleaning has set every part to piano: the default). Each part (an
instrument and its program) gets a melodic channel of its own while there are
channels left; drum notes, when a sequence keeps them, play on channel 9 with the
soundfont's drum kit of their program. A program the soundfont lacks is played by
its piano (or its standard kit), and fluidsynth's complaint is kept with the
piece's messages. Sustain, sostenuto and soft pedals are rendered. Events are applied at
their exact sample, and a fresh synthesizer is built for every piece, so the same
sequence always renders to the same samples (preparation can resume and still
produce identical records). Reusing one synthesizer is not deterministic: even
after ``system_reset`` and with reverb and chorus off, a piece rendered after
another differs from a fresh rendering by up to 0.6% of full scale (measured on
four corpus pieces). What a fresh synthesizer would cost, reading the soundfont's
samples again (about 0.1 s per piece), is saved by an idle synthesizer that keeps
them loaded (:func:`_keep_samples_loaded`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfembed.errors import TfembedError
from tfembed.features.framegrid import FrameGrid
from tfembed.utils.native import native_stderr

SOUNDFONT_ENV = "TFEMBED_SOUNDFONT"
"""Environment variable naming a soundfont, used when none is given explicitly."""

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
"""Soundfonts looked for, best piano first (Debian's fluid-soundfont-gm, then others)."""

TAIL_SECONDS = 1.0
"""Audio rendered after the last note ends, so its release is not cut off."""

_INT16_SCALE = 32768.0  # fluidsynth renders 16-bit samples
_PEDAL_CONTROLS = (64, 66, 67)  # sustain, sostenuto, soft
_DRUM_CHANNEL = 9
_DRUM_BANK = 128  # where soundfonts keep their drum kits
_MELODIC_CHANNELS = tuple(channel for channel in range(16) if channel != _DRUM_CHANNEL)
_INSTALL_HINT = "install it with: sudo apt-get install libfluidsynth3 fluid-soundfont-gm"


class RenderSetupError(TfembedError):
    """Fluidsynth or a soundfont is missing: nothing can be rendered."""


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path:
    """Returns the soundfont to render with.

    Args:
        explicit: A soundfont given by the user; otherwise ``$TFEMBED_SOUNDFONT``,
            then the first of :data:`SOUNDFONT_CANDIDATES` that exists.

    Raises:
        RenderSetupError: The given soundfont does not exist, or none was found.
    """
    chosen = explicit or os.environ.get(SOUNDFONT_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise RenderSetupError(
                f"soundfont {path} does not exist (given with --soundfont or ${SOUNDFONT_ENV})"
            )
        return path
    for candidate in SOUNDFONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RenderSetupError(
        "no General MIDI soundfont found (looked for "
        f"{', '.join(SOUNDFONT_CANDIDATES)}); {_INSTALL_HINT}, "
        f"or pass --soundfont PATH / set ${SOUNDFONT_ENV}"
    )


def check_fluidsynth() -> None:
    """Imports pyfluidsynth and its system library.

    Raises:
        RenderSetupError: The fluidsynth system library (libfluidsynth3) or the
            ``pyfluidsynth`` package is missing, with the exact fix.
    """
    try:
        import fluidsynth  # noqa: F401  (the import loads libfluidsynth)
    except ImportError as error:
        raise RenderSetupError(
            f"cannot load fluidsynth ({error}); the system library is missing: {_INSTALL_HINT} "
            "(and pip install pyfluidsynth, not the unrelated PyPI package 'fluidsynth')"
        ) from error


@dataclasses.dataclass(frozen=True)
class SynthMessages:
    """What fluidsynth printed while rendering one piece (it writes straight to stderr).

    Attributes:
        count: Lines printed.
        first: The first of them ("" if none).
    """

    count: int
    first: str

    def followed_by(self, later: SynthMessages) -> SynthMessages:
        """These messages and then ``later``'s (another rendering of the same piece)."""
        return SynthMessages(self.count + later.count, self.first or later.first)

    def summary(self) -> dict[str, int | str] | None:
        """``{"count", "first"}``, or ``None`` when nothing was printed."""
        return {"count": self.count, "first": self.first} if self.count else None


@contextlib.contextmanager
def _captured_synth_messages() -> Iterator[list[str]]:
    """Collects what the fluidsynth library prints to file descriptor 2 in the block.

    A piece with thousands of simultaneous notes makes fluidsynth print one warning
    per note it cannot play ("Ringbuffer full", "Failed to allocate a synthesis
    process"): tens of thousands of lines. They are collected here instead and
    summarised by the caller; lines that are not fluidsynth's are passed on.
    """
    messages: list[str] = []
    lines: list[str] = []
    try:
        with native_stderr() as lines:
            yield messages
    finally:
        for line in lines:
            if line.startswith("fluidsynth:"):
                messages.append(line.removeprefix("fluidsynth:").strip())
            else:
                print(line, file=sys.stderr)


def check_soundfont(soundfont: str | os.PathLike) -> None:
    """Loads a soundfont once, so that an unusable one stops a run before any piece.

    Raises:
        RenderSetupError: Fluidsynth cannot load it (not a soundfont, corrupt),
            with what fluidsynth said.
    """
    check_fluidsynth()
    import fluidsynth

    with _captured_synth_messages() as messages:
        synth = fluidsynth.Synth()
        try:
            loaded = synth.sfload(str(soundfont))
        finally:
            synth.delete()
    if loaded == -1:
        said = f" (fluidsynth: {'; '.join(messages[:3])})" if messages else ""
        raise RenderSetupError(
            f"fluidsynth cannot load the soundfont {soundfont}{said}; give a General MIDI "
            f".sf2 file with --soundfont or ${SOUNDFONT_ENV}"
        )


def _events(sequence, grid: FrameGrid) -> Iterator[tuple[int, int, tuple]]:
    """Yields ``(sample, order, event)``; at one sample pedals, then offs, then ons.

    A note-on event carries the bank and program its note is played by.
    """
    parts = sorted({(note.instrument, note.program) for note in sequence.notes if not note.is_drum})
    channels = {
        part: _MELODIC_CHANNELS[index % len(_MELODIC_CHANNELS)] for index, part in enumerate(parts)
    }
    rate = grid.sample_rate
    for change in sequence.control_changes:
        if change.control_number in _PEDAL_CONTROLS:
            played_on = {channels[part] for part in parts if part[0] == change.instrument}
            for channel in sorted(played_on):
                event = ("cc", channel, change.control_number, change.control_value, 0, 0)
                yield round(change.time * rate), 0, event
    for note in sequence.notes:
        if note.is_drum:
            channel, bank = _DRUM_CHANNEL, _DRUM_BANK
        else:
            channel, bank = channels[(note.instrument, note.program)], 0
        yield round(note.end_time * rate), 1, ("off", channel, note.pitch, 0, 0, 0)
        velocity = min(max(note.velocity, 1), 127)
        event = ("on", channel, note.pitch, velocity, bank, note.program)
        yield round(note.start_time * rate), 2, event


def _select_program(synth, soundfont_id: int, channel: int, bank: int, program: int) -> tuple:
    """Plays ``bank:program`` on ``channel``, or program 0 of the bank where it is missing.

    Returns:
        The bank and program asked for (the channel's state, whichever was found).
    """
    if synth.program_select(channel, soundfont_id, bank, program) != 0:
        synth.program_select(channel, soundfont_id, bank, 0)
    return bank, program


_dither_seeded = False


def _seed_dither_once() -> None:
    """Seeds libc's ``rand`` with its default seed before the process's first synthesizer.

    Fluidsynth fills its dither table with ``rand()`` when the first synthesizer
    of a process is built, and dithers every 16-bit sample with it. A library that
    calls ``rand()`` earlier in the process (Apache Beam's workers do) would change
    the table and so every rendered sample; seeding first keeps renderings
    identical in every process.
    """
    global _dither_seeded
    if _dither_seeded:
        return
    _dither_seeded = True
    try:
        import ctypes

        ctypes.CDLL(None).srand(1)
    except (OSError, TypeError, AttributeError):  # no C library to reach (Windows)
        pass


_sample_keepers: dict[str, object] = {}


def _keep_samples_loaded(fluidsynth, soundfont: str, grid: FrameGrid) -> None:
    """Keeps a soundfont's samples in memory for the rest of the process.

    Fluidsynth shares the sample data of a soundfont file among the synthesizers
    that have it loaded (its sample cache) and frees it with the last of them. An
    idle synthesizer that holds the soundfont spares each piece's fresh synthesizer
    reading the file again: 0.1 s per piece with FluidR3_GM, 13% of the rendering
    time of the default corpus. It plays nothing, so every piece renders to the
    same samples as before (checked on 39 corpus pieces); the samples stay in
    memory (141 MB for FluidR3_GM) until the process ends.
    """
    if soundfont in _sample_keepers:
        return
    keeper = fluidsynth.Synth(samplerate=float(grid.sample_rate))
    if keeper.sfload(soundfont) == -1:  # the piece's own synthesizer reports it
        keeper.delete()
        return
    _sample_keepers[soundfont] = keeper


def render_sequence(sequence, grid: FrameGrid, soundfont: str | os.PathLike) -> np.ndarray:
    """Renders a sequence (see :func:`render_quietly`), without its messages."""
    return render_quietly(sequence, grid, soundfont)[0]


def render_quietly(
    sequence, grid: FrameGrid, soundfont: str | os.PathLike
) -> tuple[np.ndarray, SynthMessages]:
    """Renders a sequence, mono (normalised later, with the log-mel), quietly.

    Args:
        sequence: A ``note_seq`` NoteSequence with at least one note, each note
            played by its program (and its drum kit, for a drum note).
        grid: Frame grid (its sample rate is used).
        soundfont: Path of a General MIDI soundfont.

    Returns:
        float32 samples in [-1, 1]: the sequence's ``total_time`` plus
        :data:`TAIL_SECONDS`, as fluidsynth renders them (the log-mel front-end
        peak-normalises: :func:`tfembed.features.frontend.normalized_log_mel`); and
        what fluidsynth printed meanwhile (collected, not shown).

    Raises:
        RenderSetupError: Fluidsynth cannot load or the soundfont is unusable.
    """
    check_fluidsynth()
    import fluidsynth

    with _captured_synth_messages() as messages:
        audio = _render(fluidsynth, sequence, grid, soundfont)
    return audio, SynthMessages(len(messages), messages[0] if messages else "")


def _render(fluidsynth, sequence, grid: FrameGrid, soundfont: str | os.PathLike) -> np.ndarray:
    """Plays the sequence's events at their samples; returns float32 mono samples."""
    _seed_dither_once()
    _keep_samples_loaded(fluidsynth, str(soundfont), grid)
    synth = fluidsynth.Synth(samplerate=float(grid.sample_rate))
    try:
        soundfont_id = synth.sfload(str(soundfont))
        if soundfont_id == -1:
            raise RenderSetupError(f"fluidsynth cannot load the soundfont {soundfont}")
        playing = {}
        for channel in _MELODIC_CHANNELS:
            playing[channel] = _select_program(synth, soundfont_id, channel, 0, 0)
        total = round((sequence.total_time + TAIL_SECONDS) * grid.sample_rate)
        pieces = []
        rendered = 0
        for sample, _, event in sorted(_events(sequence, grid)):
            sample = min(sample, total)
            if sample > rendered:
                pieces.append(synth.get_samples(sample - rendered))
                rendered = sample
            kind, channel, number, value, bank, program = event
            if kind == "cc":
                synth.cc(channel, number, value)
            elif kind == "off":
                synth.noteoff(channel, number)
            else:
                if playing.get(channel) != (bank, program):
                    playing[channel] = _select_program(synth, soundfont_id, channel, bank, program)
                synth.noteon(channel, number, value)
        if total > rendered:
            pieces.append(synth.get_samples(total - rendered))
    finally:
        synth.delete()
    stereo = np.concatenate(pieces).reshape(-1, 2)
    return (stereo[:, 0].astype(np.float32) + stereo[:, 1]) * (0.5 / _INT16_SCALE)
