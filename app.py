"""The Gradio app (see the app issue); placeholder until it lands."""
