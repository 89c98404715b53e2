"""Small utilities every stage uses: atomic writes, file checks, locks, memory, versions, stderr."""
