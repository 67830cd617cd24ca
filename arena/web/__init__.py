"""The server: FastAPI routes (API, media, live sessions), static pages, and the Gradio ui/."""
