"""tfembed: self-supervised embeddings of 3-second music clips from MIDI.

Audio (synthesized, log-mel) and symbolic (piano-roll) domains on one frame grid,
siamese convnets trained so that neighbouring clips embed close together, exported
as SavedModels and evaluated with rank@100 and probe tasks.
"""

__version__ = "0.1.0"
