"""The classroom kit: the app scaled out behind nginx, and a JupyterHub for a class.

``python -m classroom.launch`` (``make classroom``) starts one Streamlit process per core behind
nginx with sticky sessions; ``classroom/jupyterhub/jupyterhub_config.py`` gives every student
their own Jupyter server with lmkit's kernel. ``docs/instructor-guide.md`` explains both.
"""
