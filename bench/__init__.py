"""Benchmarks of spacy_distill; run them from the repository root as `python -m bench.<name>`."""
