"""Serve the tiny in-memory recommender's REST API (no UI) for tests that need a real process.

python -m tests.tiny_server PORT DB   (DB: a SQLite file or a postgresql:// URL)
"""

import sys

import uvicorn

from convrec.serve.api import create_server
from convrec.serve.service import make_service
from tests.test_pipeline import make_recommender

if __name__ == "__main__":
    port, db = int(sys.argv[1]), sys.argv[2]
    app = create_server(make_service(make_recommender(), feedback_db=db), ui=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
