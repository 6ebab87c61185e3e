"""Corrections -> gold docs. corrections: align, merge and count (`import_corrections`);
reader: the same as a spaCy corpus reader (`spacy_distill.Corrections.v1`) for `spacy train`."""
