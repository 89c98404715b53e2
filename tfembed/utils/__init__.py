"""Small helpers every stage uses: atomic writes, file checks, locks, native stderr, versions."""
