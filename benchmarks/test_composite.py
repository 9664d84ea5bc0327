"""Benchmarks of the composite group: one test per experiment, parametrized from the registry."""
GROUP = "composite"


def test_composite(experiment, run_benchmark):
    run_benchmark(experiment)
