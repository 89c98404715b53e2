"""The one frame grid shared by the audio (log-mel) and symbolic (piano-roll) domains.

Both domains are sampled on the same time axis so that a mel clip and a roll clip
have the same shape, ``[clip_frames, 96]``, and either tower can read either domain.
The grid is written into every prepared dataset's manifest and into every exported
model's metadata; read it back with :meth:`FrameGrid.from_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

EMBED_BATCH_SIZE = 64
"""Clips per model call when embedding (inference, export checks and evaluation)."""

DOMAINS = ("mel", "roll")
"""The two input domains: synthesized audio as log-mel, and the piano roll."""


@dataclasses.dataclass(frozen=True)
class FrameGrid:
    """Time-frequency grid of the prepared clips.

    Attributes:
        sample_rate: Audio sample rate in Hz used for rendering and the mel front-end.
        hop_length: Samples between consecutive frames (250 at 16 kHz = 64 frames/s).
        fft_length: STFT window and FFT size in samples. Frames are centred: frame
            ``k`` is centred on sample ``k * hop_length``, i.e. on time ``k / fps``,
            the same instant the piano-roll frame ``k`` describes.
        n_mels: Number of mel bands.
        fmin: Lowest mel band edge in Hz (piano A0 is 27.5 Hz).
        fmax: Highest mel band edge in Hz.
        log_offset: Added to the mel power before the natural log, so silence maps
            to ``log(log_offset)`` instead of ``-inf``.
        lowest_pitch: MIDI pitch of piano-roll row 0 (21 = A0).
        n_pitches: Piano-roll rows: 96 pitches, eight octaves (21..116).
        clip_seconds: Clip length in seconds.
    """

    sample_rate: int = 16000
    hop_length: int = 250
    fft_length: int = 1024
    n_mels: int = 96
    fmin: float = 27.5
    fmax: float = 8000.0
    log_offset: float = 1e-6
    lowest_pitch: int = 21
    n_pitches: int = 96
    clip_seconds: float = 3.0

    def __post_init__(self) -> None:
        if self.sample_rate % self.hop_length:
            raise ValueError(
                f"hop_length {self.hop_length} must divide sample_rate {self.sample_rate}"
            )
        if self.fmax > self.sample_rate / 2:
            raise ValueError(f"fmax {self.fmax} is above Nyquist ({self.sample_rate / 2})")
        if self.clip_frames <= 0:
            raise ValueError("clip_seconds gives an empty clip")

    @property
    def frames_per_second(self) -> int:
        """Frames per second of both domains."""
        return self.sample_rate // self.hop_length

    @property
    def clip_frames(self) -> int:
        """Frames in one clip (192 for 3 s at 64 frames/s)."""
        return round(self.clip_seconds * self.frames_per_second)

    @property
    def clip_samples(self) -> int:
        """Audio samples spanned by one clip."""
        return self.clip_frames * self.hop_length

    @property
    def highest_pitch(self) -> int:
        """MIDI pitch of the top piano-roll row (116)."""
        return self.lowest_pitch + self.n_pitches - 1

    def bins(self, domain: str) -> int:
        """Rows per frame of a domain: ``n_mels`` for ``mel``, ``n_pitches`` for ``roll``."""
        if domain == "mel":
            return self.n_mels
        if domain == "roll":
            return self.n_pitches
        raise ValueError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}")

    def clip_shape(self, domain: str) -> tuple[int, int]:
        """Shape ``(clip_frames, bins)`` of one clip of a domain."""
        return (self.clip_frames, self.bins(domain))

    def silence(self, domain: str) -> float:
        """Value of a frame in which nothing sounds: ``log(log_offset)`` for mel, 0 for roll."""
        self.bins(domain)  # checks the name
        return math.log(self.log_offset) if domain == "mel" else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Returns the grid as a JSON-serialisable dict (fields plus derived values)."""
        values = dataclasses.asdict(self)
        values["frames_per_second"] = self.frames_per_second
        values["clip_frames"] = self.clip_frames
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FrameGrid:
        """Builds a grid from :meth:`to_dict` output, ignoring derived values."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})


DEFAULT_GRID = FrameGrid()
