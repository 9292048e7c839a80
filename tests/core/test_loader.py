"""Loading plugins: isolation of failures, disabling, safe mode, duplicates."""

from __future__ import annotations

import pytest

from llf_host import Host
from llf_host import ModelNotFoundError
from llf_host import ToolNotFoundError
from llf_host._config import Config
from llf_host._paths import HostPaths
from llf_host.testing import home_environ

from .plugin_factory import PROVIDER
from .plugin_factory import make_plugin


@pytest.fixture
def plugins(tmp_path):
    root = tmp_path / "plugins"
    root.mkdir()
    return root


async def test_failures_are_isolated_and_explained(plugins, make_host):
    make_plugin(plugins, "good", PROVIDER.format(prefix="good"))
    make_plugin(plugins, "syntax", "def x(:\n")
    make_plugin(plugins, "raises", "raise RuntimeError('kaboom')\n")
    make_plugin(plugins, "exits", "import sys\nsys.exit(3)\n")
    make_plugin(plugins, "missing_dep", "import not_a_real_module_xyz\n")
    (plugins / "badtoml").mkdir()
    (plugins / "badtoml" / "plugin.toml").write_text("[plugin\n")
    make_plugin(
        plugins,
        "hook_raises",
        """
        from llf_host import hookimpl

        @hookimpl
        def llf_tools():
            raise KeyError("oops")
        """,
    )
    make_plugin(
        plugins,
        "wrong_type",
        """
        from llf_host import hookimpl

        @hookimpl
        def llf_providers():
            return "not a provider"
        """,
    )
    make_plugin(
        plugins,
        "typo_hook",
        """
        from llf_host import hookimpl

        @hookimpl
        def llf_provider():
            return []
        """,
    )
    make_plugin(
        plugins,
        "bad_args",
        """
        from llf_host import hookimpl

        @hookimpl
        def llf_tools(unknown_argument):
            return []
        """,
    )
    host = await make_host(plugins=[plugins])
    status = {name: r.status for name, r in host.plugins.items()}
    assert status.pop("good") == "ok"
    assert set(status.values()) == {"failed"}
    reasons = {name: host.plugins[name].error.message for name in status}
    assert "plugin.py:1" in reasons["syntax"] and "SyntaxError" in reasons["syntax"]
    assert "kaboom" in reasons["raises"]
    assert "SystemExit" in reasons["exits"]
    assert "not_a_real_module_xyz" in reasons["missing_dep"]
    assert "install" in host.plugins["missing_dep"].error.hint
    assert "not valid TOML" in reasons["badtoml"]
    assert "llf_tools()" in reasons["hook_raises"] and "oops" in reasons["hook_raises"]
    assert "expected Provider" in reasons["wrong_type"]
    assert "unknown hook 'llf_provider'" in reasons["typo_hook"]
    assert "invalid hook implementation" in reasons["bad_args"]
    # The good plugin still works.
    entry, name = host.registry.resolve_model("good/echo")
    assert entry.plugin == "good" and name == "echo"


async def test_config_disables_a_plugin(plugins, make_host):
    make_plugin(plugins, "one", PROVIDER.format(prefix="one"))
    make_plugin(plugins, "two", PROVIDER.format(prefix="two"))
    host = await make_host(plugins=[plugins], config={"host": {"disabled": ["two"]}})
    assert host.plugins["two"].status == "disabled"
    assert "disabled in config" in host.plugins["two"].warnings[0]
    assert set(host.registry.providers) == {"one"}


async def test_builtins_can_be_disabled(make_host):
    host = await make_host(builtins=True)
    builtin = [r.name for r in host.plugins.values() if r.source == "builtin"]
    if not builtin:
        pytest.skip("no built-in plugins in this tree yet")
    victim = builtin[0]
    host2 = await make_host(builtins=True, config={"host": {"disabled": [victim]}})
    assert host2.plugins[victim].status == "disabled"


async def test_safe_mode_allow_list(plugins, make_host, tmp_path):
    make_plugin(plugins, "one", PROVIDER.format(prefix="one"))
    make_plugin(plugins, "two", PROVIDER.format(prefix="two"))
    host = await make_host(plugins=[plugins], allow=["two"])
    assert host.plugins["one"].status == "disabled"
    assert set(host.registry.providers) == {"two"}
    # An empty allow-list (LLF_HOST_PLUGINS="") loads nothing at all.
    env = home_environ(tmp_path / "h", {"LLF_HOST_PLUGINS": ""})
    async with Host(
        paths=HostPaths.from_env(env), config=Config.empty(), plugins_dirs=[plugins], environ=env
    ) as safe:
        assert {r.status for r in safe.plugins.values()} == {"disabled"}
        assert not safe.registry.providers


async def test_duplicate_contributions_keep_the_first(plugins, make_host):
    make_plugin(plugins, "a_first", PROVIDER.format(prefix="same"))
    make_plugin(plugins, "b_second", PROVIDER.format(prefix="same"))
    host = await make_host(plugins=[plugins])
    assert host.registry.providers["same"].plugin == "a_first"
    (warning,) = host.plugins["b_second"].warnings
    assert "conflicts with the one from plugin 'a_first'" in warning
    assert host.registry.who_provides("provider", "same") == "a_first"


async def test_duplicate_plugin_names_fail_the_second(tmp_path, make_host):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    make_plugin(d1, "twin", PROVIDER.format(prefix="x"))
    make_plugin(d2, "twin", PROVIDER.format(prefix="y"))
    host = await make_host(plugins=[d1, d2])
    assert host.plugins["twin"].status == "ok"
    dup = next(r for k, r in host.plugins.items() if k.startswith("twin@"))
    assert dup.status == "failed" and "already used" in dup.error.message


async def test_registry_errors_list_what_exists(plugins, make_host):
    make_plugin(plugins, "one", PROVIDER.format(prefix="one"))
    host = await make_host(plugins=[plugins])
    with pytest.raises(ModelNotFoundError) as info:
        host.registry.resolve_model("nope/model")
    assert "one/" in info.value.hint
    with pytest.raises(ModelNotFoundError):
        host.registry.resolve_model("one")
    with pytest.raises(ToolNotFoundError, match="no tool named 'x'"):
        host.registry.tool("x")


async def test_model_names_may_contain_slashes(plugins, make_host):
    make_plugin(plugins, "one", PROVIDER.format(prefix="ollama"))
    host = await make_host(plugins=[plugins])
    _, name = host.registry.resolve_model("ollama/user/model:tag")
    assert name == "user/model:tag"


async def test_plugin_config_is_validated_by_its_schema(plugins, make_host):
    make_plugin(
        plugins,
        "configured",
        """
        from llf_host import hookimpl
        from llf_host.testing import MockProvider

        @hookimpl
        def llf_providers(context):
            return MockProvider(context.config.get("prefix", "default"))
        """,
        manifest_extra="""
        [config.schema]
        type = "object"
        properties = {prefix = {type = "string"}, threads = {type = "integer", minimum = 1}}
        additionalProperties = false
        """,
    )
    host = await make_host(
        plugins=[plugins], config={"plugins": {"configured": {"prefix": "custom"}}}
    )
    assert "custom" in host.registry.providers
    bad = await make_host(plugins=[plugins], config={"plugins": {"configured": {"threads": 0}}})
    err = bad.plugins["configured"].error
    assert err is not None and err.data["field"] == "threads"
    assert "[plugins.configured] threads" in err.message


async def test_relative_imports_and_tool_binding(plugins, make_host):
    make_plugin(
        plugins,
        "calc",
        """
        from llf_host import Tool, hookimpl
        from .impl import add

        @hookimpl
        def llf_tools():
            return [Tool.from_function(add)]
        """,
        manifest_extra="""
        [tools.add]
        confirm = true
        limits = {timeout_s = 2, memory_mb = 64}
        """,
        extra_files={
            "impl.py": 'def add(a: int, b: int = 1) -> int:\n    "Add."\n    return a + b\n'
        },
    )
    host = await make_host(plugins=[plugins])
    tool = host.registry.tool("add").obj
    assert tool.function == "impl:add"
    assert tool.plugin == "calc"
    assert tool.confirm is True
    assert tool.limits is not None and tool.limits.memory_mb == 64
    assert tool.parameters["required"] == ["a"]
    assert tool.parameters["properties"]["b"] == {"type": "integer", "default": 1}


async def test_startup_and_shutdown_hooks_run_and_failures_are_contained(plugins, make_host):
    marker = plugins.parent / "events.txt"
    make_plugin(
        plugins,
        "lifecycle",
        f"""
        from llf_host import hookimpl

        @hookimpl
        async def llf_startup(host, context):
            with open({str(marker)!r}, "a") as f:
                f.write("start " + context.name + "\\n")

        @hookimpl
        def llf_shutdown():
            with open({str(marker)!r}, "a") as f:
                f.write("stop\\n")
        """,
    )
    make_plugin(
        plugins,
        "bad_startup",
        """
        from llf_host import hookimpl

        @hookimpl
        def llf_startup():
            raise RuntimeError("no start")
        """,
    )
    from llf_host.testing import isolated_host

    async with isolated_host(plugins.parent / "home", plugins=[plugins]) as host:
        assert marker.read_text() == "start lifecycle\n"
        assert "no start" in host.plugins["bad_startup"].warnings[0]
    assert marker.read_text() == "start lifecycle\nstop\n"


async def test_audit_hook_receives_load_events(plugins, make_host):
    make_plugin(
        plugins,
        "auditor",
        """
        from llf_host import hookimpl
        SEEN = []

        @hookimpl
        def llf_audit(event):
            SEEN.append(event.kind)
        """,
    )
    make_plugin(plugins, "broken", "raise ValueError('x')\n")
    host = await make_host(plugins=[plugins])
    await host.audit_bus.drain()
    seen = host.plugins["auditor"].hook_object.SEEN
    assert "plugin.load_failed" in seen and "host.start" in seen
