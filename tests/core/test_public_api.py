"""The public API is exactly what __all__ says, and errors behave on the wire."""

from __future__ import annotations

import pickle

import pytest

import llf_host
from llf_host import LLMError
from llf_host import ModelNotFoundError
from llf_host import ToolResourceLimit
from llf_host._errors import _all_error_classes
from llf_host._errors import error_from_wire


def test_all_is_sorted_and_complete():
    public = sorted(n for n in dir(llf_host) if not n.startswith("_") and n != "annotations")
    modules = {"hookspecs", "testing", "client", "builtin_plugins"}
    public = [n for n in public if n not in modules]
    assert sorted(llf_host.__all__) == sorted(set(public) | {"__version__"})


def test_exported_classes_show_the_public_module():
    import msgspec

    for name in llf_host.__all__:
        obj = getattr(llf_host, name)
        # Structs keep their defining module: msgspec resolves annotations there.
        if isinstance(obj, type) and not issubclass(obj, msgspec.Struct):
            assert obj.__module__ == "llf_host", name


def test_error_codes_are_unique_and_outside_reserved_ranges():
    # The host's own tree (the client library adds JSON-RPC/LSP codes on purpose).
    classes = [c for c in _all_error_classes() if c.__module__ in ("llf_host", "llf_host._errors")]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert not (-32768 <= code <= -32000), code  # JSON-RPC reserved
        assert not (-32899 <= code <= -32800), code  # LSP reserved


@pytest.mark.parametrize("cls", _all_error_classes())
def test_errors_round_trip_through_the_wire_and_pickle(cls):
    err = cls("what happened", hint="what to do", plugin="p", limit="memory")
    wire = err.to_wire()
    assert wire["data"]["hint"] == "what to do" and wire["data"]["kind"] == cls.kind
    back = error_from_wire(wire)
    assert type(back) is cls
    assert (back.message, back.hint, back.data) == (err.message, err.hint, err.data)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is cls and clone.data == err.data


def test_unknown_wire_code_keeps_the_code():
    err = error_from_wire({"code": 12345, "message": "odd", "data": {"x": 1}})
    assert type(err) is LLMError and err.data == {"x": 1, "code": 12345}


def test_str_includes_the_fix():
    assert str(ModelNotFoundError("no model", hint="pull it")) == "no model (pull it)"
    assert isinstance(ToolResourceLimit("x"), llf_host.ToolError)
