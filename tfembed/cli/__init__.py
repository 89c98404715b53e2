"""Console entry points: thin wrappers over library functions."""

import os

# TensorFlow's C++ start-up chatter (CPU features, missing CUDA) hides our own messages.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
