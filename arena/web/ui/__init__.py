"""The Gradio pages: Vote, Leaderboard, Pareto, Voters, Live and Annotate tabs (callbacks stay thin)."""
