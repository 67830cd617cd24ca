"""The Gradio pages: Vote and Leaderboard tabs. Callbacks stay thin; the work is in ``arena``."""
