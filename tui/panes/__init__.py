"""The five panes of the app, one module each."""
