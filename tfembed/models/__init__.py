"""Towers, siamese variants, the loss and rank@100."""
