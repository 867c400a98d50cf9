"""Running the suite in a LAVA lab: the job writer (job.py), the guest-side reporter the test
definition runs (report.py, `python -m conformance.lava.report`), and the reader that turns a
finished job's log or results export back into a results.json (results.py). The naming and
result mapping both sides share are in names.py; docs/lava.md describes the whole path."""
