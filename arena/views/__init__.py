"""Votes read into what people look at: count cubes, leaderboards, Pareto, voter quality, cache."""
