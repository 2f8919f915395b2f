"""Run llama-cpp-python's own OpenAI server (`python -m llama_cpp.server ...`) with the model
loaded with `use_extra_bufts = False` (see _no_extra_bufts.py). Same CLI as llama_cpp.server.

    python bench/_llama_server.py --model PATH --n_threads N --host 127.0.0.1 --port P
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _no_extra_bufts import patch  # noqa: E402

patch()

from llama_cpp.server.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main()
