"""Bit-reproducible training on one machine: TensorFlow runs one op at a time.

With a seed, the weights, the pair order and every random draw are fixed, yet
two CPU runs still drifted apart (validation rank@100 AM 14.44 against 13.56
after 200 steps of MEL_MEL). The cause is scheduling: with several ops in
flight, oneDNN kernels split their sums differently from run to run, and a
validation pass between steps makes the timing differ. One inter-op thread
removes it (each op still uses every core). On 2 cores it made the step 5.5%
slower (``tools/benchmarks/bench_train.py``: x1.055); turning oneDNN off instead made it
twice as slow.
"""

from __future__ import annotations

import tensorflow as tf


def run_ops_one_at_a_time() -> bool:
    """Sets TensorFlow's inter-op parallelism to one thread, if it can still be set.

    Returns:
        Whether ops now run one at a time. ``False`` when this process already
        started TensorFlow's runtime with more inter-op threads: the setting is
        fixed at start-up.
    """
    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return True
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        return False
    return True
