"""Thin adapters over chat/: the REST API, the Gradio chat, session and feedback stores, LangChain."""
