"""Training a siamese variant: the trainer, the run folder, monitoring."""
