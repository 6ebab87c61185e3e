"""Review in the browser: `spacy-distill review` serves the teacher's suggestions to correct.

tables: the SQLite schema; storage: the review database; ingest: teacher docs into it;
ordering: which doc comes first; guard: host and token checks; server: the Starlette app and
`serve`; static/: the page (plain HTML/JS/CSS).
"""
