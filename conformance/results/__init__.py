"""Results: the results.json model and the writers that read it."""

SCHEMA = "conformance-results/1"
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
