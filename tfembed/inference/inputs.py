"""Reading MIDI and audio files into what a model embeds, without the model or TensorFlow.

:class:`InputReader` holds only the model's domains, frame grid and reading
settings, so it can be sent to worker processes: MIDI is parsed and rendered (or
rolled) and audio decoded and resampled there, without importing TensorFlow,
while the parent process alone holds the model, computes the log-mel of MIDI
renderings and embeds (:mod:`tfembed.inference.batch_embed`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tfembed.errors import PieceError
from tfembed.features.framegrid import FrameGrid
from tfembed.preparation.instruments import PIANO

if TYPE_CHECKING:
    from tfembed.preparation.midi_piece import MidiPiece

DEFAULT_INSTRUMENTS = PIANO
"""Who plays MIDI rendered for a mel model unless told: the piano, as the models were trained."""

LONG_AUDIO_SECONDS = 600.0
"""Audio files longer than this are decoded and embedded a chunk at a time."""


class DomainError(PieceError):
    """An input of a kind the model cannot embed (audio given to a piano-roll model)."""


def is_audio(path: str | os.PathLike) -> bool:
    """Whether a file is read as audio (by its suffix), not as MIDI."""
    from tfembed.inference.audio import AUDIO_SUFFIXES

    return Path(path).suffix.lower() in AUDIO_SUFFIXES


@dataclasses.dataclass(frozen=True)
class AudioInput:
    """An audio file read as mono samples at the model's rate.

    Attributes:
        path: The file.
        samples: float32 ``[samples]``; ``None`` for a file longer than
            :data:`LONG_AUDIO_SECONDS`, embedded a chunk at a time instead.
        seconds: Its length in seconds.
    """

    path: Path
    samples: np.ndarray | None
    seconds: float


@dataclasses.dataclass(frozen=True)
class InputReader:
    """Reads files for one model (picklable: no TensorFlow objects).

    Attributes:
        domains: The input domains of the model's towers: ``("mel",)``, ``("roll",)``,
            or ``("mel", "roll")`` for a joint export.
        grid: The model's frame grid.
        soundfont: Soundfont for rendering MIDI (found as in preparation when ``None``).
        max_midi_seconds: MIDI files longer than this are cut here.
        instruments: Who plays a MIDI rendering, as ``tfembed-prepare --instruments``
            (mel models only; a piano roll holds the pitched notes whoever plays).
    """

    domains: tuple[str, ...]
    grid: FrameGrid
    soundfont: str | None
    max_midi_seconds: float
    instruments: str = DEFAULT_INSTRUMENTS

    @property
    def midi_domain(self) -> str:
        """How MIDI is read: as a piano roll if the model has a roll tower, else rendered (mel)."""
        return "roll" if "roll" in self.domains else "mel"

    @property
    def reads_audio(self) -> bool:
        """Whether the model has a mel tower, which embeds audio."""
        return "mel" in self.domains

    def require_mel(self) -> None:
        """Raises :class:`DomainError` unless the model has a mel tower (reads audio)."""
        if not self.reads_audio:
            raise DomainError(
                f"the model reads piano rolls (domain {self.domains[0]!r}); "
                "audio needs a mel model such as mel_mel; give this model MIDI files"
            )

    def read(self, path: str | os.PathLike) -> MidiPiece | AudioInput:
        """Reads a MIDI or audio file (chosen by its suffix).

        Raises:
            PieceError: The file cannot be read or embedded (see :meth:`read_midi`
                and :meth:`read_audio`).
        """
        return self.read_audio(path) if is_audio(path) else self.read_midi(path)

    def read_midi(self, path: str | os.PathLike) -> MidiPiece:
        """A MIDI file read for the model as preparation reads it, all but the log-mel.

        Mel models get the rendering, whose log-mel :meth:`MidiPiece.frames`
        computes where TensorFlow runs; roll models and joint exports get the
        piano roll (nothing rendered).

        Raises:
            PieceError: The file cannot be read as MIDI, has no pitched notes, or
                none within the piano roll's pitches; fluidsynth or the soundfont
                is missing (mel models).
        """
        from tfembed.preparation.midi_piece import read_midi_piece
        from tfembed.preparation.render import check_fluidsynth, find_soundfont

        soundfont = None
        if self.midi_domain == "mel":
            check_fluidsynth()
            soundfont = find_soundfont(self.soundfont)
        return read_midi_piece(
            path, self.midi_domain, self.grid, soundfont, self.max_midi_seconds, self.instruments
        )

    def read_audio(self, path: str | os.PathLike) -> AudioInput:
        """Decodes an audio file to mono at the model's rate (models with a mel tower only).

        Raises:
            DomainError: The model reads piano rolls only.
            PieceError: The file is unreadable, unsupported, corrupt, silent, or
                holds NaN samples.
        """
        from tfembed.inference.audio import AudioFile, check_samples, resample

        self.require_mel()
        audio = AudioFile(path)
        seconds = audio.length / audio.rate
        if seconds > LONG_AUDIO_SECONDS:
            return AudioInput(Path(path), None, seconds)
        mono = audio.mono(0, audio.length)
        check_samples(mono)
        return AudioInput(Path(path), resample(mono, audio.rate, self.grid.sample_rate), seconds)
