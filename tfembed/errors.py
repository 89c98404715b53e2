"""Errors shared by the preparation modules (kept free of heavy imports)."""


class PieceError(Exception):
    """A piece that cannot be prepared; the message says why."""
