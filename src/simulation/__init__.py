"""Week-by-week replay of a generated world through the decision path: a model trained on the
history, selection strategies under the offices' capacity, inspections with the world's
detection rates and delays, results back into the live history, retraining, and the report."""
