"""Embedding MIDI, audio and clips with an exported SavedModel; the HEAR API."""
