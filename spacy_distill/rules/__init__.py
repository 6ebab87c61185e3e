"""Rules: EntityRuler / SpanRuler patterns, applied in a blank pipeline (see `apply`)."""
