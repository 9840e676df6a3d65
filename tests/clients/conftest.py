"""The postgrest-py suite (postgrest_py/) runs inside tests/clients/.venv, started by
tests/test_clients.py with API_URL set; the outer `pytest tests/` run must not collect it."""
import os

if "API_URL" not in os.environ:
    collect_ignore = ["postgrest_py"]
