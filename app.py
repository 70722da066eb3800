"""Start the browser chat and the REST API at http://127.0.0.1:7860 (what `make demo` ends with).

Settings come from the environment (CONVREC_*; see convrec/config.py); the feedback database
from CONVREC_FEEDBACK_DB (default feedback/feedback.sqlite3).
"""

import sys

from convrec.chat.load import load_recommender
from convrec.core.config import Settings
from convrec.core.errors import ConvrecError
from convrec.serve.api import serve


def main() -> int:
    settings = Settings()
    try:
        recommender = load_recommender(settings)
    except ConvrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    serve(recommender, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
