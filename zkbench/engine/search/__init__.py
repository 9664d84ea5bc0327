"""The search for the cheapest circuit that meets the tolerance: its grid (grid), a grid point
(candidate), the accuracy metric (metric), the algorithm over candidates (algorithm), why a search
missed (explain); child side: the search stage (child_stage), its evaluations (evaluate) and their
store (store); parent side: the experiment's search step (step). Nothing is imported here."""
