"""Marker for the built-in plugins folder.

Each subfolder is an ordinary drop-in plugin, found by the host's loader like any
user plugin; nothing here is imported as part of ``llf_host``.
"""
