"""Mixed precision: per-layer sensitivity measured with the integer-exact simulator (sensitivity.py),
the budget's layers and costs (budget.py), and the search under a budget (search.py)."""
