"""spacy-distill: human-in-the-loop distillation of LLM annotations into small spaCy pipelines."""
__version__ = "0.1.0"
