"""Making and importing outputs: generation runs, imports, recorded failures, output metrics."""
