"""Pareto Arena: the product around the votes (store, files, outputs, collect, views, web, cli, demo)."""
