"""Child side of the stage worker: the process that runs one experiment's stages (prover calls, torch's
export) for the parent (zkbench.engine.stage_worker), each timed alone in its own memory window.

Run as: python -m zkbench.engine.child READ_FD WRITE_FD [PRELOAD,MODULES [BACKEND]]

Nothing is imported here, nor by the protocol loop before a stage asks for it: the child must not
load torch, numpy or the rest of the engine before its memory window opens."""
