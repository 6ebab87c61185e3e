"""The distillation loop: rounds of select -> pre-annotate -> correct -> train -> evaluate.

loop: the `Loop` and `run_loop`; layout: its output folder; strategies: which docs to select;
preannotate: whose suggestions the expert sees; sources: where corrections come from (the
simulated expert, an imported file, the review database); simulate: the simulated expert's
edits; examples: the teacher's few-shot examples from the corrections; settings: the loop
config; report: the learning curve and its report.
"""
