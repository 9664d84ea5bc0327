"""What identifies an installed prover: its distribution's version and native build. Standard library
only: a backend environment runs this module (`python -m zkbench.backends.identity PACKAGE`) to say
what it holds, and whether its prover imports at all."""

from __future__ import annotations

import functools
import json
import sys
from importlib import metadata


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def package_build(name: str) -> str | None:
    """Version plus the recorded hash of the package's native extension: two wheels of one version
    (a local build, a GPU build) are different provers. From the wheel's RECORD, so nothing is hashed."""
    try:
        files = metadata.files(name) or []
    except metadata.PackageNotFoundError:
        return None
    hashes = sorted((str(f), f.hash.value) for f in files if f.suffix in (".so", ".pyd") and f.hash is not None)
    digest = hashes[0][1][:16] if hashes else "no-native-hash"
    return f"{package_version(name)}+{digest}"


def main(package: str) -> None:
    # the stage child's own needs: the prover, the search's numpy and the candidate cache's filelock
    import ezkl  # noqa: F401
    import filelock  # noqa: F401
    import numpy  # noqa: F401

    print(json.dumps({"version": package_version(package), "build": package_build(package), "python": sys.version}))


if __name__ == "__main__":
    main(sys.argv[1])
