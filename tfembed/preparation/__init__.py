"""MIDI files or the music21 corpus -> rendered, labelled clips in sharded TFRecords."""
