"""python -m zkbench.engine.child READ_FD WRITE_FD [PRELOAD,MODULES [BACKEND]]: the stage child (loop.main)."""

import sys

from zkbench.engine.child.loop import main

if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:5])
