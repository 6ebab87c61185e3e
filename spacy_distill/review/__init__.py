"""Review in the browser: `spacy-distill review` serves the teacher's suggestions to correct.

storage: the SQLite review database; ordering: which doc comes first;
server: the Starlette app and `serve`; static/: the page (plain HTML/JS/CSS).
"""
