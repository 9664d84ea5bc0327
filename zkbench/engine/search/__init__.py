"""The search for the cheapest circuit that meets the tolerance: its grid (grid), the accuracy metric,
the algorithm over candidates, their evaluation and store, and the experiment's search step."""
