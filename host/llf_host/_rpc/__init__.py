"""The stdio protocol server: framing, dispatch and method handlers (private)."""
