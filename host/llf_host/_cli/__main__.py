"""``python -m llf_host._cli``: the same as the ``llf-host`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()
