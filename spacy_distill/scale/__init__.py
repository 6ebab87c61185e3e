"""Beyond one process: `apply` a trained pipeline to a corpus, locally or on a Ray cluster (run.py)."""
