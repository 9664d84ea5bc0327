"""The user's own ONNX models (--models-dir DIR): collected only when that option is given."""
GROUP = "custom"


def test_custom(experiment, run_benchmark):
    run_benchmark(experiment)
