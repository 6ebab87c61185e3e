"""The distillation loop: simulated expert, selection strategies, rounds."""
