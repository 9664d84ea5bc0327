"""The experiment engine: one experiment end to end (experiment.run_experiment), every stage in a
fresh child process (child/, driven by stage_worker and stage_runner), the deterministic artifacts
from a content-addressed cache (cache), plan mode's estimate without proving (estimate).

Nothing is imported here: a stage child imports zkbench.engine's child package and must not load
torch or the rest of the engine before its memory window opens."""
