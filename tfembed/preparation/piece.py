"""Preparing one piece: NoteSequence -> rendering -> log-mel and piano roll -> clips."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence

import numpy as np
from note_seq.protobuf import music_pb2

from tfembed.dataset.schema import ClipLabels, serialize_clip
from tfembed.errors import PieceError
from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import rendering_log_mel
from tfembed.features.pianoroll import frame_of, piano_roll
from tfembed.preparation.labels import key_signature_at, onsets_per_second, tempo_at
from tfembed.preparation.midi import CleanedSequence
from tfembed.preparation.midi_piece import notes_out_of_range, pitch_range
from tfembed.preparation.render import SynthMessages, render_quietly

SILENCE_MARGIN = 1.0
"""A clip whose log-mel never rises this far (in nats) above the floor ``log(log_offset)``
is silent, whatever its roll: about -48 dB of the piece's peak, where a held piano
note has died away into the rendering's noise (measured: -58 dB, 0.05 above the floor)."""


@dataclasses.dataclass(frozen=True)
class PieceInfo:
    """What a piece's clips are labelled with, besides what the music says.

    Attributes:
        piece_id: Identifier of the piece.
        composer: Id in the dataset's composer vocabulary (or ``UNKNOWN``).
        composer_name: Composer name.
        split: ``train``, ``validation`` or ``test``.
        tempo_explicit: Whether the file holds a tempo event.
        tempo_source: ``stated``, ``drawn`` or ``default`` (see
            :mod:`tfembed.preparation.tempo`).
    """

    piece_id: str
    composer: int
    composer_name: str
    split: str
    tempo_explicit: bool
    tempo_source: str = ""


@dataclasses.dataclass(frozen=True)
class PreparedPiece:
    """The serialised clips of a piece and what was dropped.

    Attributes:
        records: One serialised ``tf.train.Example`` per kept clip, in time order.
        seconds: Seconds of music covered by the kept clips.
        silent_clips: Clips left out because no note sounds in them, in the piano
            roll or in the audio (a held note that has died away).
        out_of_range_clips: Clips left out because their only notes lie outside the
            piano roll's pitches.
        out_of_range_notes: Notes outside the piano roll's pitches (rendered, but
            not in the roll).
        synth_warnings: What fluidsynth printed while rendering
            (``{"count", "first"}``), or ``None``.
    """

    records: list[bytes]
    seconds: float
    silent_clips: int
    out_of_range_clips: int = 0
    out_of_range_notes: int = 0
    synth_warnings: dict | None = None


def prepare_piece(
    cleaned: CleanedSequence,
    info: PieceInfo,
    grid: FrameGrid,
    performances: Sequence[tuple[str | os.PathLike, music_pb2.NoteSequence]],
) -> PreparedPiece:
    """Renders a piece once per soundfont and cuts it into consecutive clips with labels.

    ``performances`` pairs each soundfont with the performance it plays (the
    sequence's pitched notes with their programs, and the drums if played:
    :meth:`tfembed.preparation.midi.CleanedSequence.performance`); the roll and the
    labels are made of ``cleaned.sequence``.

    The log-mel is computed on each whole rendering (one loudness normalisation per
    piece, no release tail inside a clip), the piano roll on the same frames, and
    all are cut into ``floor(total_time * fps / clip_frames)`` consecutive clips; a
    clip's record holds its log-mel in every rendering, the first soundfont's (the
    reference) first. Clips in which no note sounds are left out, so that every kept
    clip ``i`` is followed in time by clip ``i + 1`` unless ``i + 1`` was left out. A
    clip is silent when its piano roll is empty or when the reference rendering's
    log-mel stays within :data:`SILENCE_MARGIN` of silence (a note held for minutes
    has long died away); a clip whose only notes are outside the roll's pitches is
    counted as out of range. The reference alone decides, so every rendering has
    the same clips.

    Raises:
        PieceError: The piece is shorter than one clip, every note is outside the
            piano roll's pitches, or no clip is left.
    """
    sequence = cleaned.sequence
    clip_frames = grid.clip_frames
    num_clips = int(sequence.total_time * grid.frames_per_second) // clip_frames
    if num_clips == 0:
        raise PieceError(
            f"shorter than one clip ({sequence.total_time:.2f} s < {grid.clip_seconds} s)"
        )
    outside = notes_out_of_range(sequence, grid)
    num_frames = num_clips * clip_frames
    renderings = []
    messages = SynthMessages(0, "")
    for soundfont, performance in performances:
        audio, said = render_quietly(performance, grid, soundfont)
        renderings.append(rendering_log_mel(audio, grid, num_frames))
        messages = messages.followed_by(said)
    mel = np.stack(renderings)
    roll = piano_roll(sequence, grid, num_frames)
    sounding_outside = np.zeros(num_frames, dtype=bool)
    for note in outside:
        onset = frame_of(note.start_time, grid)
        sounding_outside[onset : max(frame_of(note.end_time, grid), onset + 1)] = True
    silence = math.log(grid.log_offset) + SILENCE_MARGIN
    onset_frames = np.sort([frame_of(note.start_time, grid) for note in sequence.notes])
    records = []
    silent = out_of_range = 0
    for index in range(num_clips):
        frames = slice(index * clip_frames, (index + 1) * clip_frames)
        clip_roll = roll[frames]
        if not clip_roll.any():
            if sounding_outside[frames].any():
                out_of_range += 1
            else:
                silent += 1
            continue
        if mel[0, frames].max() < silence:
            silent += 1
            continue
        start = index * grid.clip_seconds
        middle = start + grid.clip_seconds / 2
        labels = ClipLabels(
            piece_id=info.piece_id,
            clip_index=index,
            start_time=start,
            composer=info.composer,
            composer_name=info.composer_name,
            key_signature=key_signature_at(sequence, middle),
            tempo=tempo_at(sequence, middle),
            tempo_explicit=info.tempo_explicit,
            note_density=onsets_per_second(onset_frames, frames.start, grid),
            split=info.split,
            tempo_source=info.tempo_source,
        )
        records.append(serialize_clip(mel[:, frames], clip_roll, labels))
    if not records:
        if out_of_range:
            raise PieceError(
                f"no clip left: {silent} of {num_clips} clips are silent and {out_of_range} "
                f"hold only notes out of range ({pitch_range(grid)})"
            )
        raise PieceError(f"all {num_clips} clips are silent")
    return PreparedPiece(
        records,
        len(records) * grid.clip_seconds,
        silent,
        out_of_range,
        len(outside),
        messages.summary(),
    )
