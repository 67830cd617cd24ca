"""The Gradio pages: Vote, Leaderboard, Pareto, Voters, Live, Campaigns and Annotate tabs (callbacks stay thin)."""
