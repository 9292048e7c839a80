"""plugin.toml validation: precise errors for bad manifests, never a crash."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host import ManifestError
from llf_host._manifest import host_api_compatible
from llf_host._manifest import manifest_for_module
from llf_host._manifest import parse_manifest


def write(tmp_path: Path, text: str, *, entry: str = "plugin") -> Path:
    (tmp_path / f"{entry}.py").write_text("")
    path = tmp_path / "plugin.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_manifest_parses(tmp_path):
    path = write(
        tmp_path,
        """
        [plugin]
        name = "weather-tools"
        version = "1.2.3"
        description = "Weather"
        host_api = "1"
        entry = "plugin"

        [permissions]
        network = ["api.weather.example:443", "127.0.0.1", "[::1]:8080", "*"]
        filesystem = ["~/notes", {path = "~/out", write = true}]
        keys = ["WEATHER_KEY"]

        [config.schema]
        type = "object"

        [tools.forecast]
        confirm = true
        limits = {timeout_s = 5, memory_mb = 256}
        concurrency = 2
        rate_per_minute = 30
        """,
    )
    m = parse_manifest(path, source="user")
    assert m.name == "weather-tools"
    assert m.permissions.network[0] == "api.weather.example:443"
    assert m.permissions.filesystem[1].write is True
    assert m.permissions.keys == ("WEATHER_KEY",)
    assert m.config_schema == {"type": "object"}
    assert m.tools["forecast"].confirm is True
    assert m.tools["forecast"].limits == {"timeout_s": 5.0, "memory_mb": 256.0}


@pytest.mark.parametrize(
    ("text", "field", "fix"),
    [
        ("", "plugin", "[plugin]"),
        ('[plugin]\nversion = "1"', "plugin.name", "name ="),
        ('[plugin]\nname = "Bad Name"', "plugin.name", "lowercase"),
        ("[plugin]\nname = 3", "plugin.name", "quote it"),
        ('[plugin]\nname = "a"\nhost_api = "2"', "plugin.host_api", "upgrade"),
        ('[plugin]\nname = "a"\nhost_api = "one"', "plugin.host_api", "major"),
        ('[plugin]\nname = "a"\nentry = "no-dash"', "plugin.entry", "module"),
        ('[plugin]\nname = "a"\nnmae = "typo"', "plugin.nmae", "remove it"),
        ('[plugin]\nname = "a"\n[permissions]\nnetwork = "x"', "permissions.network", "list"),
        ('[plugin]\nname = "a"\n[permissions]\nnetwork = ["a b"]', "permissions.network", "host"),
        ('[plugin]\nname = "a"\n[permissions]\nkeys = ["sp ace"]', "permissions.keys", "letters"),
        ('[plugin]\nname = "a"\n[permissions]\nfilesystem = [3]', "permissions.filesystem", "path"),
        ('[plugin]\nname = "a"\n[tools.t]\nconfirm = "yes"', "tools.t.confirm", "true"),
        (
            '[plugin]\nname = "a"\n[tools.t]\nlimits = {cpu_s = -1}',
            "tools.t.limits.cpu_s",
            "positive",
        ),
        ('[plugin]\nname = "a"\n[tools.t]\nlimits = {ram = 1}', "tools.t.limits.ram", "memory_mb"),
        ('[plugin]\nname = "a"\n[extra]\nx = 1', "extra", "permissions"),
    ],
)
def test_invalid_manifests_name_field_and_fix(tmp_path, text, field, fix):
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        parse_manifest(path, source="user")
    err = info.value
    assert str(path) in err.message
    assert err.data.get("field", "") == field or f"[{field}]" in err.message
    assert fix in (err.hint or "") + err.message


def test_missing_entry_module_is_reported(tmp_path):
    path = tmp_path / "plugin.toml"
    path.write_text('[plugin]\nname = "a"\nentry = "main"\n')
    with pytest.raises(ManifestError, match="module 'main' not found"):
        parse_manifest(path, source="user")


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "[plugin\nname=")
    with pytest.raises(ManifestError, match="not valid TOML") as info:
        parse_manifest(path, source="user")
    assert info.value.data["file"] == str(path)


def test_single_file_plugin_with_inline_manifest(tmp_path):
    path = tmp_path / "quick.py"
    path.write_text(
        "# /// plugin\n"
        "# [plugin]\n"
        '# description = "quick one"\n'
        "# [permissions]\n"
        '# keys = ["K"]\n'
        "# ///\n"
        "x = 1\n"
    )
    m = manifest_for_module(path, source="user")
    assert (m.name, m.entry, m.description, m.permissions.keys) == (
        "quick",
        "quick",
        "quick one",
        ("K",),
    )


def test_single_file_plugin_without_manifest_has_no_permissions(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("x = 1\n")
    m = manifest_for_module(path, source="user")
    assert m.name == "plain"
    assert m.permissions.keys == () and m.permissions.network == ()


@pytest.mark.parametrize(
    ("required", "provided", "ok"),
    [("1", "1.0", True), ("1.0", "1.3", True), ("1.4", "1.3", False), ("2", "1.9", False)],
)
def test_host_api_compatibility(required, provided, ok):
    assert host_api_compatible(required, provided) is ok


toml_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), children, max_size=4
        )
    ),
    max_leaves=12,
)


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tables=st.dictionaries(
        st.sampled_from(["plugin", "permissions", "config", "tools", "sandbox", "other"]),
        st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "version",
                    "entry",
                    "host_api",
                    "network",
                    "keys",
                    "filesystem",
                    "schema",
                    "t",
                    "limits",
                    "x",
                ]
            ),
            toml_values,
            max_size=5,
        ),
        max_size=5,
    )
)
def test_random_manifests_never_crash(tmp_path, tables):
    text = "\n".join(
        f"[{section}]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in body.items())
        for section, body in tables.items()
    )
    path = write(tmp_path, text)
    try:
        m = parse_manifest(path, source="user")
    except ManifestError as err:
        assert str(path) in err.message
        assert err.hint
    else:
        assert m.name


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300))
def test_garbage_bytes_never_crash(tmp_path, garbage):
    (tmp_path / "plugin.py").write_text("")
    path = tmp_path / "plugin.toml"
    path.write_bytes(garbage)
    try:
        parse_manifest(path, source="user")
    except ManifestError as err:
        assert err.hint
