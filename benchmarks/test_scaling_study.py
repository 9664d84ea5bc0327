"""Benchmarks of the scaling_study group: one test per experiment, parametrized from the registry."""
GROUP = "scaling_study"


def test_scaling_study(experiment, run_benchmark):
    run_benchmark(experiment)
