"""Benchmark body (not a test): build one veth topology per case with the suite's own
fixtures and time it. Run through benchmarks/netns_setup.py, which reads the timings."""
import os
import time

import pytest

ROUNDS = 30


@pytest.mark.requires(root=True, feature=("netns", "veth"))
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_veth_topology(round_, request):
    start = time.perf_counter()
    pair = request.getfixturevalue("veth_pair")  # two namespaces, veth, addresses, links up
    elapsed = time.perf_counter() - start
    assert pair.a.index and pair.b.index
    with open(os.environ["BENCH_OUT"], "a") as fh:
        fh.write(f"{elapsed}\n")
