"""What the app pages and the chapters call on top of the models: attention maps, semantic
search, live training, text classification (CSV included), saliency, and (chapter 13) named
entities and extractive question answering. Nothing here knows
about Streamlit; the app only lays out what these functions return.
"""
