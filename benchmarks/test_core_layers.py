"""Benchmarks of the core_layers group: one test per experiment, parametrized from the registry."""
GROUP = "core_layers"


def test_core_layers(experiment, run_benchmark):
    run_benchmark(experiment)
