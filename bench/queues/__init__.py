"""Queue drivers for bench/queue_compare.py: one module per system, run by that system's venv.

The drivers import only the standard library and their own queue package, so each
runs in its own virtualenv; queue_compare.py talks to them by command line and UDP.
"""
