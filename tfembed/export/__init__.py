"""Export: a trained tower to a SavedModel and TFLite, the metadata format, models by name."""
