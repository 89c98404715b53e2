"""Cross-file search by windowed embeddings (``tfembed-search``).

An index is a ``tfembed-embed`` output folder (one ``.npz`` of window embeddings
per input, its journal and ``index.json``) plus a search matrix built from it:
every window of every embedded file, unit length, one file after the other
(:mod:`tfembed.search.index`). ``tfembed-search index`` embeds into it
(:mod:`tfembed.search.build`); ``tfembed-search query`` embeds query files with the
index's model and ranks the indexed files by their best diagonal alignment
(:mod:`tfembed.search.query`, :mod:`tfembed.search.scoring`).
"""
