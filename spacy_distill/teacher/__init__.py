"""The LLM teacher: registered models, response store, parsers, annotate()."""
