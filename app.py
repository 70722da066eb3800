"""Start the browser chat at http://127.0.0.1:7860 (what `make demo` ends with).

Settings come from the environment (CONVREC_*); see convrec/config.py.
"""

import sys

from convrec.build import load_recommender
from convrec.config import Settings
from convrec.errors import ConvrecError
from convrec.ui import launch


def main() -> int:
    settings = Settings()
    try:
        recommender = load_recommender(settings)
    except ConvrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    launch(recommender, host=settings.host, port=settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
