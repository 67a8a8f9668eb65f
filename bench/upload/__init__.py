"""Pieces of bench/upload_load.py: the running stack and the HTTP load generator."""
