"""Root conftest: the suite's pytest plugin lives in fixtures/plugin.py."""

pytest_plugins = ["zkbench.fixtures.plugin"]
