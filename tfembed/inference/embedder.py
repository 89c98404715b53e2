"""Embedding MIDI files, audio and clips with an exported SavedModel.

:class:`Embedder` (returned by :func:`tfembed.load`) wraps a folder written by
``tfembed-export``: it reads ``metadata.json`` for the model's domain and frame
grid, turns MIDI files into that domain with the preparation code itself, turns
audio (mel models only) into the same log-mel, cuts the frames into windows of
one clip with a hop, and runs them through the ``serve`` signature in batches.

A joint export (both towers of a run, ``domain`` ``joint``) embeds MIDI files as
piano rolls through ``serve_roll`` (nothing rendered) and audio as log-mel
through its mel tower, into one space; its clips need their domain named.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tfembed.errors import ExportError, InputError, PieceError
from tfembed.export.format import JOINT, export_domains, read_metadata, serve_signature
from tfembed.export.registry import resolve_model
from tfembed.features.framegrid import EMBED_BATCH_SIZE, FrameGrid
from tfembed.inference.inputs import DEFAULT_INSTRUMENTS, AudioInput, DomainError, InputReader
from tfembed.preparation import DEFAULT_MAX_PIECE_SECONDS
from tfembed.preparation.instruments import INSTRUMENT_CHOICES

if TYPE_CHECKING:
    from tfembed.preparation.midi_piece import MidiPiece

__all__ = ["DomainError", "Embedder", "Embeddings"]


@contextlib.contextmanager
def _naming(path: str | os.PathLike) -> Iterator[None]:
    """Puts the file's name in front of the message of a :class:`PieceError` raised inside."""
    try:
        yield
    except PieceError as error:
        raise type(error)(f"{path}: {error}") from error


@dataclasses.dataclass(frozen=True)
class Embeddings:
    """The embeddings of one input.

    Attributes:
        embedding: float32 ``[clips, embedding_size]``, one row per window.
        timestamps: float64 ``[clips]``: start time of each window in seconds.
        padded: bool ``[clips]``: the window reaches past the end of the input
            and was padded with silence.
        piece_embedding: float32 ``[embedding_size]``: the mean of the unpadded
            windows' embeddings (of all windows when every one is padded).
        cut_at_seconds: Where a MIDI file longer than the length cap was cut
            (``None`` when it was not).
        repairs: What was dropped or reinterpreted to read a MIDI file, one
            line each (see :func:`tfembed.preparation.midi.parse_midi`).
    """

    embedding: np.ndarray
    timestamps: np.ndarray
    padded: np.ndarray
    piece_embedding: np.ndarray
    cut_at_seconds: float | None = None
    repairs: tuple[str, ...] = ()

    def arrays(self) -> dict[str, np.ndarray]:
        """Returns the array fields, the keys of the ``.npz`` files."""
        return {
            "embedding": self.embedding,
            "timestamps": self.timestamps,
            "padded": self.padded,
            "piece_embedding": self.piece_embedding,
        }


class Embedder:
    """A SavedModel that embeds MIDI files, audio and clips.

    The metadata is read (and a misspelt name or a missing folder reported) at
    once; TensorFlow and the SavedModel itself are loaded by :meth:`load_model`,
    which the constructor calls unless ``load=False``, and every embedding method
    calls when needed.

    Attributes:
        path: The SavedModel folder.
        metadata: Its ``metadata.json``.
        domain: ``mel`` (audio), ``roll`` (piano roll), or ``joint`` (both towers
            of a run: MIDI is embedded as piano roll, audio as log-mel).
        domains: The input domains of its towers: ``(domain,)``, or
            ``("mel", "roll")`` for a joint export.
        grid: The frame grid the model was trained on.
        embedding_size: Size of one embedding (128).
        sample_rate: Audio rate of the model in Hz (16000).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int = EMBED_BATCH_SIZE,
        soundfont: str | os.PathLike | None = None,
        max_midi_seconds: float = DEFAULT_MAX_PIECE_SECONDS,
        load: bool = True,
        instruments: str = DEFAULT_INSTRUMENTS,
    ) -> None:
        """Opens a SavedModel written by ``tfembed-export``.

        Args:
            path: The SavedModel folder (with ``metadata.json`` beside ``saved_model.pb``)
                or the name of a shipped model such as ``mel_mel``, found as
                :func:`tfembed.export.registry.resolve_model` says.
            batch_size: Clips per call of the model.
            soundfont: Soundfont to render MIDI with for mel models (a joint export
                renders nothing); found as in preparation when ``None``.
            max_midi_seconds: MIDI files longer than this are cut here, as
                preparation cuts them (``--max_piece_seconds``); a 66-byte file
                can hold a 3-hour note.
            load: Load TensorFlow and the SavedModel now (otherwise on first use).
            instruments: Who plays MIDI rendered for a mel model, as
                ``tfembed-prepare --instruments``: ``piano`` (the default, as the
                shipped models were trained), ``as_written`` or
                ``as_written_with_drums``.

        Raises:
            ExportError: ``path`` is not a tfembed export nor a known model name
                (:class:`tfembed.errors.UnknownModelError`), differs from its
                manifest, or cannot be loaded.
            InputError: ``batch_size`` is below 1, or ``instruments`` is not a choice.
        """
        if int(batch_size) < 1:
            raise InputError(f"the batch size must be at least 1, not {batch_size}")
        if instruments not in INSTRUMENT_CHOICES:
            raise InputError(
                f"instruments must be one of {', '.join(INSTRUMENT_CHOICES)}, not {instruments!r}"
            )
        self.path = resolve_model(path)
        self.metadata: dict[str, Any] = read_metadata(self.path)
        self.domain: str = self.metadata["domain"]
        self.domains: tuple[str, ...] = export_domains(self.metadata)
        self.grid = FrameGrid.from_dict(self.metadata["frame_grid"])
        self.embedding_size: int = int(self.metadata["embedding_size"])
        self.sample_rate: int = self.grid.sample_rate
        self.batch_size = int(batch_size)
        self.max_midi_seconds = max_midi_seconds
        self.reader = InputReader(
            self.domains,
            self.grid,
            None if soundfont is None else str(soundfont),
            max_midi_seconds,
            instruments,
        )
        self._model: Any = None
        if load:
            self.load_model()

    def load_model(self) -> None:
        """Imports TensorFlow and loads the SavedModel (once).

        Raises:
            ExportError: The SavedModel cannot be loaded.
        """
        if self._model is not None:
            return
        import tensorflow as tf

        # Keep the loaded object: its functions are only valid while it lives.
        try:
            self._model = tf.saved_model.load(str(self.path))
        except (OSError, ValueError, tf.errors.OpError) as error:
            message = getattr(error, "message", None) or str(error)
            raise ExportError(
                f"{self.path}: the SavedModel cannot be loaded ({message.strip()[:200]}); "
                "export the model again with tfembed-export"
            ) from error

    @property
    def serve(self) -> Callable[[Any], Any]:
        """The ``serve`` signature: float32 clips ``[batch, frames, bins]`` -> ``[batch, 128]``.

        Raises:
            InputError: A joint export, which has one per domain (:meth:`serve_for`).
        """
        return self.serve_for()

    def serve_for(
        self, domain: str | None = None, within_domain: bool = False
    ) -> Callable[[Any], Any]:
        """The signature embedding clips of ``domain``: ``serve``, or ``serve_<domain>`` if joint.

        Args:
            domain: ``mel`` or ``roll``, required for a joint export.
            within_domain: The features for tasks within the domain: a joint
                export with shared-space or own-domain heads has a signature for
                them (``features_<domain>``); every other export's towers have
                one output, which this is.

        Raises:
            InputError: ``domain`` is missing for a joint export, or the model has
                no tower of that domain (see :meth:`clip_domain`).
        """
        domain = self.clip_domain(domain)
        name = serve_signature(domain, joint=self.domain == JOINT)
        if within_domain:
            name = self.metadata.get("feature_signatures", {}).get(domain, name)
        self.load_model()
        return getattr(self._model, name)

    def clip_domain(self, domain: str | None) -> str:
        """The domain of clips or frames given with ``domain`` (``None``: the model's one domain).

        Raises:
            InputError: ``None`` for a joint export (mel and roll clips have the same
                shape, so they must be named), or a domain the model has no tower for.
        """
        if domain is None:
            if len(self.domains) > 1:
                raise InputError(
                    f"{self.path.name} is a joint export with a mel and a roll tower; "
                    "say which clips these are: domain='mel' (log-mel) or domain='roll' "
                    "(piano roll)"
                )
            return self.domains[0]
        if domain not in self.domains:
            raise InputError(
                f"{self.path.name} has no {domain!r} tower; it reads "
                f"{' and '.join(repr(name) for name in self.domains)} clips"
            )
        return domain

    def hop_frames(self, hop_seconds: float | None) -> int:
        """Frames between window starts for a hop in seconds (default: one clip).

        Raises:
            InputError: The hop is not positive or below one frame.
        """
        if hop_seconds is None:
            return self.grid.clip_frames
        if not hop_seconds > 0:
            raise InputError(f"the hop must be positive, not {hop_seconds}")
        hop = round(hop_seconds * self.grid.frames_per_second)
        if hop < 1:
            raise InputError(
                f"a hop of {hop_seconds} s is below one frame (1/{self.grid.frames_per_second} s)"
            )
        return hop

    def embed_clips(
        self, clips: np.ndarray, domain: str | None = None, within_domain: bool = False
    ) -> np.ndarray:
        """Embeds clips of the model's domain, in batches.

        Args:
            clips: float ``[n, clip_frames, bins]`` (e.g. the ``mel`` or ``roll`` of
                prepared clips).
            domain: ``mel`` or ``roll``: which tower of a joint export embeds them
                (required there); one-tower models need none.
            within_domain: The tower's own features instead of the shared space
                (see :meth:`serve_for`).

        Returns:
            float32 ``[n, embedding_size]``.

        Raises:
            InputError: ``clips`` is not ``[n, clip_frames, bins]``, or ``domain``
                is missing or wrong (see :meth:`clip_domain`).
        """
        import tensorflow as tf

        domain = self.clip_domain(domain)
        clips = np.asarray(clips, dtype=np.float32)
        expected = self.grid.clip_shape(domain)
        if clips.ndim != 3 or clips.shape[1:] != expected:
            raise InputError(
                f"clips of shape {clips.shape} given; the {domain} model takes "
                f"[n, {expected[0]}, {expected[1]}] (n clips of {expected[0]} frames "
                f"x {expected[1]} bins)"
            )
        serve = self.serve_for(domain, within_domain)
        embedded = [
            serve(tf.constant(clips[start : start + self.batch_size])).numpy()
            for start in range(0, len(clips), self.batch_size)
        ]
        if not embedded:
            return np.zeros((0, self.embedding_size), np.float32)
        return np.concatenate(embedded)

    def embed_frames(
        self, frames: np.ndarray, hop_seconds: float | None = None, domain: str | None = None
    ) -> Embeddings:
        """Embeds ``[frames, bins]`` features of the model's domain window by window.

        Windows are laid out and padded with the domain's silence by the same
        functions as the exported ``audio_windows`` (and a joint export's
        ``roll_windows``) signature (:mod:`tfembed.features.windows`).

        Args:
            frames: A log-mel or piano roll on the model's frame grid.
            hop_seconds: Seconds between window starts; ``None`` for one clip
                (3 s, consecutive windows as in preparation). Smaller hops overlap.
            domain: ``mel`` or ``roll``, required for a joint export.

        Raises:
            PieceError: No frames.
            InputError: ``frames`` is not ``[frames, bins]`` of the model's domain,
                or ``domain`` is missing or wrong (see :meth:`clip_domain`).
        """
        domain = self.clip_domain(domain)
        frames = np.asarray(frames, dtype=np.float32)
        bins = self.grid.clip_shape(domain)[1]
        if frames.ndim != 2 or frames.shape[1] != bins:
            raise InputError(
                f"frames of shape {frames.shape} given; the {domain} model takes [frames, {bins}]"
            )
        return self._embed_frames(frames, self.hop_frames(hop_seconds), domain)

    def _embed_frames(self, frames: np.ndarray, hop_frames: int, domain: str) -> Embeddings:
        import tensorflow as tf

        from tfembed.features.windows import embed_windows, window_layout

        if not len(frames):
            raise PieceError(f"shorter than one frame (1/{self.grid.frames_per_second} s)")
        clip = self.grid.clip_frames
        starts, padded = window_layout(len(frames), clip, hop_frames)
        embedding = embed_windows(
            self.serve_for(domain),
            tf.constant(frames, tf.float32),
            starts,
            clip,
            self.grid.silence(domain),
            self.embedding_size,
            self.batch_size,
        )
        return self._embeddings(embedding.numpy(), starts.numpy(), padded.numpy())

    def _embeddings(
        self, embedding: np.ndarray, start_frames: np.ndarray, padded: np.ndarray
    ) -> Embeddings:
        whole = embedding[~padded] if (~padded).any() else embedding
        return Embeddings(
            embedding=embedding,
            timestamps=start_frames / self.grid.frames_per_second,
            padded=padded,
            piece_embedding=whole.mean(axis=0),
        )

    def instruments_played(self) -> str | None:
        """Who plays MIDI rendered for the model; ``None`` when MIDI is read as piano roll."""
        return self.reader.instruments if self.reader.midi_domain == "mel" else None

    def soundfont_name(self) -> str | None:
        """The soundfont MIDI files are rendered with.

        ``None`` for a piano-roll model or a joint export (MIDI read as piano
        roll), or when none is found (audio needs none; a MIDI file then fails
        with the reason).
        """
        if self.reader.midi_domain != "mel":
            return None
        from tfembed.preparation.render import RenderSetupError, find_soundfont

        try:
            return str(find_soundfont(self.reader.soundfont))
        except RenderSetupError:
            return None

    def embed_midi(self, path: str | os.PathLike, hop_seconds: float | None = None) -> Embeddings:
        """Embeds a MIDI file: rendered and log-mel for mel models, piano roll for roll models.

        A joint export embeds the piano roll with its roll tower (nothing rendered).

        Files longer than ``max_midi_seconds`` are cut there (``cut_at_seconds``
        of the result says so); ``repairs`` lists what was dropped to read the file.

        Args:
            path: The MIDI file.
            hop_seconds: Seconds between window starts (default: one clip).

        Raises:
            PieceError: The file cannot be read as MIDI (the message names it), has
                no pitched notes, or none within the piano roll's pitches.
        """
        hop_frames = self.hop_frames(hop_seconds)
        with _naming(path):
            read = self.reader.read_midi(path)
        return self.embed_read(read, hop_frames)

    def embed_read(
        self,
        read: MidiPiece | AudioInput,
        hop_frames: int,
        progress: Callable[[float], None] | None = None,
    ) -> Embeddings:
        """Embeds a file read by :attr:`reader` (in this process or a worker).

        The log-mel of a MIDI rendering is computed here, as preparation computes it.

        Args:
            read: What :meth:`tfembed.inference.inputs.InputReader.read` returned.
            hop_frames: Frames between window starts (:meth:`hop_frames`).
            progress: For audio embedded a chunk at a time: called with the share
                of its windows embedded so far.
        """
        if not isinstance(read, AudioInput):
            return dataclasses.replace(
                self._embed_frames(read.frames(self.grid), hop_frames, self.reader.midi_domain),
                cut_at_seconds=read.cut_at_seconds,
                repairs=read.repairs,
            )
        if read.samples is not None:
            return self.embed_prepared_audio(read.samples, hop_frames)
        from tfembed.inference.audio import AudioFile
        from tfembed.inference.long_audio import embed_audio_in_chunks

        embedded = embed_audio_in_chunks(
            self.serve_for("mel"),
            self.grid,
            self.embedding_size,
            AudioFile(read.path),
            hop_frames,
            batch_size=self.batch_size,
            progress=progress,
        )
        return self._embeddings(*embedded)

    def prepare_audio(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 audio at the model's rate, checked (normalised later, in the graph).

        Raises:
            DomainError: The model reads piano rolls only, not audio.
            PieceError: The audio is empty, silent, or holds NaN samples.
            InputError: A 2-D array with more channels than samples (most likely
                ``[channels, samples]``, as librosa and torchaudio give it, which
                would be averaged into a few samples), more than 2 dimensions, or
                a sample rate that is not a positive number of Hz.
        """
        from tfembed.inference.audio import check_samples, resample, to_mono

        self.reader.require_mel()
        shape = np.shape(samples)
        if len(shape) == 2 and shape[1] > shape[0]:
            raise InputError(
                f"audio of shape {shape} has more channels than samples; give "
                f"[samples, channels] (transpose a [channels, samples] array: samples.T)"
            )
        if len(shape) not in (1, 2):
            raise InputError(f"audio must be [samples] or [samples, channels], not {shape}")
        if not (np.isscalar(sample_rate) and sample_rate > 0 and sample_rate == int(sample_rate)):
            raise InputError(
                f"the sample rate must be a positive whole number of Hz, not {sample_rate!r}"
            )
        mono = to_mono(samples)
        check_samples(mono)
        return resample(mono, int(sample_rate), self.sample_rate)

    def embed_audio(
        self, samples: np.ndarray, sample_rate: int, hop_seconds: float | None = None
    ) -> Embeddings:
        """Embeds audio (mel models and joint exports) with the export's ``audio_windows``.

        The SavedModel peak-normalises the audio, computes its log-mel and cuts
        windows in its own graph, so this gives what
        ``tf.saved_model.load(path).embed_audio(audio)`` gives.

        Args:
            samples: float ``[samples]`` or ``[samples, channels]`` in [-1, 1].
            sample_rate: Their rate in Hz; resampled to the model's.
            hop_seconds: Seconds between window starts (default: one clip).

        Raises:
            DomainError: The model reads piano rolls.
            PieceError: The audio is empty, silent, or holds NaN samples.
            InputError: The array or the rate cannot be audio (see :meth:`prepare_audio`).
            ExportError: The export predates the ``audio_windows`` signature.
        """
        audio = self.prepare_audio(samples, sample_rate)
        return self.embed_prepared_audio(audio, self.hop_frames(hop_seconds))

    def embed_prepared_audio(self, audio: np.ndarray, hop_frames: int) -> Embeddings:
        """Embeds mono audio at the model's rate through ``audio_windows``."""
        import tensorflow as tf

        self.load_model()
        if not hasattr(self._model, "audio_windows"):
            raise ExportError(
                f"{self.path} has no audio_windows signature (exported by an older "
                "tfembed); export it again with tfembed-export"
            )
        result = self._model.audio_windows(
            tf.constant(audio, tf.float32), tf.constant(hop_frames, tf.int32)
        )
        return self._embeddings(
            result["embedding"].numpy(), result["start_frame"].numpy(), result["padded"].numpy()
        )

    def embed_audio_file(
        self, path: str | os.PathLike, hop_seconds: float | None = None
    ) -> Embeddings:
        """Embeds an audio file (wav, flac, mp3, ogg), decoded as :class:`AudioFile` says.

        Files longer than ``LONG_AUDIO_SECONDS`` (10 minutes) are decoded and
        embedded a chunk at a time (:mod:`tfembed.inference.long_audio`), so
        memory stays bounded whatever the length; the embeddings are the same.

        Raises:
            DomainError: The model reads piano rolls.
            PieceError: The file is unreadable, unsupported, corrupt, silent, or
                holds NaN samples (the message names it).
        """
        hop_frames = self.hop_frames(hop_seconds)
        with _naming(path):
            read = self.reader.read_audio(path)
        return self.embed_read(read, hop_frames)
