"""Collecting votes: pair sampling, planted checks, tokens, the vote path, live rooms, annotation."""
