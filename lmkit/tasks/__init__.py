"""What the app pages and the chapters call on top of the models: attention maps, semantic
search, live training, text classification (CSV included) and saliency. Nothing here knows
about Streamlit; the app only lays out what these functions return.
"""
