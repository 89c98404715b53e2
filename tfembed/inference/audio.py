"""Audio files to mono float samples at a model's rate, with libsndfile or tensorflow-io.

Files are decoded with libsndfile (``soundfile``), or tensorflow-io for what it
cannot open (:class:`AudioFile`); both are imported only when a file is decoded,
so that code which merely embeds MIDI or prepared clips does not load them.
Resampling is a polyphase filter from scipy.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfembed.errors import PieceError
from tfembed.utils.files import check_regular_file
from tfembed.utils.native import native_stderr

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc")
"""File suffixes decoded as audio (case-insensitive): WAV, FLAC, MP3, Ogg (Vorbis or
Opus) and AIFF, all read by libsndfile."""

SILENT_PEAK = 2.0**-15
"""Audio whose loudest sample is no louder (one step of 16-bit audio, -90 dB) is silent."""

_INTEGER_SCALES = {"int16": 2.0**15, "int32": 2.0**31, "int8": 2.0**7, "uint8": 2.0**7}
_INTEGER_OFFSETS = {"uint8": 128.0}  # 8-bit WAV is unsigned: silence is 128
_TENSORFLOW_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:[^\]]*\]")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Returns float32 mono samples: channels (the last axis of a 2-D array) averaged."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise ValueError(f"audio must be [samples] or [samples, channels], not {samples.shape}")
    return samples


def check_samples(samples: np.ndarray) -> None:
    """Rejects audio that cannot be embedded.

    Raises:
        PieceError: The audio is empty, holds NaN or infinite samples, or is silent.
    """
    if samples.size == 0:
        raise PieceError("no audio samples")
    check_finite(samples)
    check_peak(float(np.max(np.abs(samples))))


def check_peak(peak: float) -> None:
    """Rejects audio whose loudest sample is :data:`SILENT_PEAK` or quieter.

    The models see audio peak-normalised, so a silent recording with dither
    (samples of one 16-bit step) would be embedded as full-scale noise.

    Raises:
        PieceError: The audio is silent.
    """
    if peak == 0:
        raise PieceError("silent: every sample is zero")
    if peak <= SILENT_PEAK:
        raise PieceError(
            f"silent: the loudest sample is {20 * math.log10(peak):.0f} dB below full scale "
            "(one step of 16-bit audio or less: silence with dither or noise)"
        )


def check_finite(samples: np.ndarray, offset: int = 0) -> None:
    """Rejects audio holding NaN or infinite samples.

    Args:
        samples: The samples.
        offset: Position of ``samples[0]`` in the whole audio, for the message.

    Raises:
        PieceError: Naming how many bad samples there are and where the first is.
    """
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(samples.size - np.count_nonzero(finite))
        first = offset + int(np.argmin(finite))
        raise PieceError(f"{bad} NaN or infinite samples (the first at sample {first})")


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resamples mono float32 audio with a polyphase filter (``scipy.signal.resample_poly``).

    ``tfio.audio.resample`` gives the same length but took 1.13 s per minute of
    44.1 kHz audio against 0.034 s here (2 CPU cores), and capped the audio
    throughput of ``tfembed-embed`` at about 18 clips per second.
    """
    if rate_in == rate_out:
        return samples
    from scipy.signal import resample_poly

    common = math.gcd(int(rate_in), int(rate_out))
    resampled = resample_poly(samples, int(rate_out) // common, int(rate_in) // common)
    return resampled.astype(np.float32)


@contextlib.contextmanager
def _decoding(path: Path, where: str = "", tensorflow: bool = False) -> Iterator[None]:
    """Turns decoder errors into a PieceError without TensorFlow node names.

    Args:
        path: The file being decoded.
        where: Said after the message: which part of the file was being read.
        tensorflow: Decoding with tensorflow-io (whose errors are TensorFlow's);
            libsndfile's decoding imports no TensorFlow.
    """
    errors: tuple[type[Exception], ...] = (ValueError, RuntimeError)
    if tensorflow:
        import tensorflow as tf

        errors += (tf.errors.OpError,)
    try:
        yield
    except errors as error:
        message = _TENSORFLOW_NODE.sub("", getattr(error, "message", str(error))).strip()
        raise PieceError(f"cannot decode {path.suffix} audio: {message}{where}") from error


class AudioFile:
    """An audio file decoded lazily: any range of it, as mono float32.

    Files are decoded with libsndfile (``soundfile``) when it can open them:
    every WAV encoding (8-, 16-, 24- and 32-bit integers, 32- and 64-bit floats,
    mu-law, ADPCM), a WAV whose header gives wrong lengths (as a recorder that
    stopped early or a streaming encoder leaves them), AIFF, FLAC, Ogg Vorbis and,
    with libsndfile 1.1 or later, Ogg Opus and MP3. Others go to tensorflow-io, which reads 32-bit
    integer WAV as floats (garbage) and refuses the rest of these.

    Attributes:
        path: The file.
        rate: Its sample rate in Hz.
        length: Its length in samples.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        """Opens an audio file (see :data:`AUDIO_SUFFIXES`).

        Raises:
            PieceError: The file is unreadable, of an unsupported type, not a
                regular file, empty or cannot be decoded.
        """
        self.path = Path(path)
        if self.path.suffix.lower() not in AUDIO_SUFFIXES:
            raise PieceError(
                f"unsupported audio type {self.path.suffix or '(no suffix)'!r}; "
                f"expected one of {', '.join(AUDIO_SUFFIXES)}"
            )
        check_regular_file(self.path)
        try:
            with open(self.path, "rb") as stream:
                if not stream.read(1):
                    raise PieceError("empty file (0 bytes)")
        except OSError as error:
            raise PieceError(f"cannot read the file: {error.strerror or error}") from error
        import soundfile

        self._decoded = None
        try:
            with native_stderr():  # libsndfile's MP3 decoder prints notes on a damaged file
                info = soundfile.info(str(self.path))
        except (RuntimeError, TypeError):  # libsndfile cannot open it: try tensorflow-io
            import tensorflow_io as tfio

            with _decoding(self.path, tensorflow=True):
                self._decoded = tfio.audio.AudioIOTensor(str(self.path))
                self.rate = int(self._decoded.rate.numpy())
                self.length = int(self._decoded.shape[0].numpy())
        else:
            self.rate, self.length = int(info.samplerate), int(info.frames)
        if self.rate <= 0:
            raise PieceError(f"corrupt header: a sample rate of {self.rate} Hz")
        if self.length == 0:
            raise PieceError(
                "no audio samples: the file gives a length of 0 "
                "(an empty recording, or a truncated or damaged file)"
            )

    def mono(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (clipped to the file), channels averaged, in [-1, 1]."""
        start, stop = max(0, start), min(self.length, stop)
        if stop <= start:
            return np.zeros(0, np.float32)
        where = (
            f" (reading {start / self.rate:.1f} s to {stop / self.rate:.1f} s of its "
            f"{self.length / self.rate:.1f} s: the file is damaged or truncated)"
        )
        if self._decoded is None:
            import soundfile

            with (
                _decoding(self.path, where),
                native_stderr(),
                soundfile.SoundFile(str(self.path)) as stream,
            ):
                stream.seek(start)
                return to_mono(stream.read(stop - start, dtype="float32", always_2d=True))
        with _decoding(self.path, where, tensorflow=True):
            samples = self._decoded[start:stop].numpy()
        scale = _INTEGER_SCALES.get(samples.dtype.name)
        offset = _INTEGER_OFFSETS.get(samples.dtype.name, 0.0)
        return to_mono((samples - offset) / scale if scale else samples)


def resampled_chunks(audio: AudioFile, rate_out: int, chunk_seconds: float) -> Iterator[np.ndarray]:
    """The file, mono at ``rate_out``, in consecutive chunks of about ``chunk_seconds``.

    Each chunk is decoded and resampled with a margin of real neighbouring
    samples, wider than the polyphase filter, and cut at a sample that maps
    exactly onto the output grid, so the chunks put end to end are the samples
    :func:`resample` gives for the whole file, while only one chunk is held.
    """
    common = math.gcd(audio.rate, int(rate_out))
    up, down = int(rate_out) // common, audio.rate // common
    if up == down:
        up = down = 1
    reach = 10 * max(up, down) // up + 1  # resample_poly's filter half-length, input samples
    margin = down * (reach // down + 1)
    step = max(down, round(chunk_seconds * audio.rate) // down * down)
    for start in range(0, audio.length, step):
        stop = min(start + step, audio.length)
        low, high = max(0, start - margin), min(audio.length, stop + margin)
        resampled = resample(audio.mono(low, high), audio.rate, int(rate_out))
        first = (start - low) * up // down
        count = -(-stop * up // down) - start * up // down
        yield resampled[first : first + count]


def read_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Decodes an audio file to mono float32 samples at ``sample_rate``.

    WAV, FLAC, MP3 and Ogg Vorbis are decoded (:class:`AudioFile`); channels are
    averaged, then the audio is resampled to ``sample_rate`` (:func:`resample`).

    Args:
        path: The audio file.
        sample_rate: Rate to return, in Hz.

    Returns:
        float32 ``[samples]``.

    Raises:
        PieceError: The file is unreadable, of an unsupported type, corrupt,
            empty, silent, or holds NaN samples.
    """
    audio = AudioFile(path)
    mono = audio.mono(0, audio.length)
    check_samples(mono)
    return resample(mono, audio.rate, sample_rate)
