"""Evaluation of exported towers: rank@100, probe tasks, baselines and significance."""
