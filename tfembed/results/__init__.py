"""Results generated, not typed: tables and model cards written from committed JSON.

Summaries of evaluations and benchmarks live in ``docs/results/``; the tables of
README.md and docs/ and the shipped models' cards are written from them.
"""
