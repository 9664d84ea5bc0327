"""The results store: result documents and where they live (store), what a result says (fields), a
run's selection (selection) and what it counts as (counts). The engine writes results through it;
the pytest glue, the tools and merge read them through it."""
