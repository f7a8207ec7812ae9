"""Choosing what to do: every option (each tool, and answering in words) scored by the likelihood of the
request after its description, then weighed by the evidence the request gives for each tool's arguments."""

from __future__ import annotations

import math

from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import RequestUsage

from . import arguments
from .context import Context, already_answered, earlier_exchanges, last_prompt, since_last_prompt
from .drafting import DECISION_TOKENS, CannotCall, Drafting
from .formats import ChannelFormat, Choice, has_arguments
from .usage import scoring_usage, usage_of


class Choosing(Drafting, Context):
    """Deciding between the tools and words (a mixin of `LocalModel`)."""

    MISSING: float
    PROCEDURE: float
    GIVEN: float
    IDENTIFIED: float
    UNCHOSEN: float
    CHOSEN: float
    NAMED: float

    def _choose_by_generation(
        self,
        messages: list[ModelMessage],
        info: AgentInfo,
        tools: list[ToolDefinition],
        temperature: float,
        max_tokens: int,
        usage: list[RequestUsage],
    ) -> Choice | None:
        if info.allow_text_output and since_last_prompt(messages):
            return None
        system = self.format.system(tools, info.allow_text_output, self.tool_hint)
        gen = self.engine.generate(
            self._conversation(messages, info.instructions, system),
            grammar=self.format.grammar(tools, info.allow_text_output),
            max_tokens=DECISION_TOKENS,
            temperature=temperature,
        )
        usage[0] += usage_of(gen)
        choice = self.format.parse(gen.text, tools)
        if choice is None:
            raise CannotCall("Sorry, I could not work out which tool to use for that. Could you rephrase it?")
        if choice.tool is not None and info.allow_text_output and already_answered(messages, choice):
            return None
        return choice

    def _prefix(self, info: AgentInfo, messages: list[ModelMessage]) -> str:
        """What option scores are conditioned on: the instructions' opening, and the recent requests if any."""
        head = (info.instructions or "").strip().split("\n\n", 1)[0][:600]
        earlier = earlier_exchanges(messages, self.context_turns)
        context = "".join(f"Earlier the user asked: {question}\n" for question, _ in earlier)
        return (f"{head}\n" if head else "") + context

    def option_scores(
        self, messages: list[ModelMessage], info: AgentInfo, tools: list[ToolDefinition], usage: list[RequestUsage]
    ) -> list[tuple[str | None, float]]:
        """Each option (a tool name, or None for words) with its score for the latest request.

        The score is the log-likelihood of the request after the option's description. Under the
        default `evidence` routing, a tool whose required identifiers and numbers the request gives none
        of is not an option ("What does P/E mean?" names no ticker: no lookup of a guessed one), and one
        that gets some of them loses `MISSING` for each identifier or number it
        requires that the request does not give (no ticker named, no quantity stated: "What is a limit
        order?" is not an order) and `UNCHOSEN` for each required choice it does not name (no side:
        "How much is one share of AMD?" is not an order either), gains `GIVEN` for each required
        argument it does give, and a tool taking only free text (a skill's task) loses `PROCEDURE`,
        as such a tool fits any request, and gains `NAMED` per word of its name the request uses.
        """
        assert isinstance(self.format, ChannelFormat)
        request = last_prompt(messages)
        options = self.format.options(tools, info.allow_text_output)
        scored = self.engine.score(self._prefix(info, messages), [text for _, text in options], request)
        usage[0] += scoring_usage(scored)
        scores = scored.scores
        if self.routing == "evidence":
            by_name = {t.name: t for t in tools}
            for i, (name, _) in enumerate(options):
                if name is not None:
                    planned = arguments.plan(dict(by_name[name].parameters_json_schema or {}), request)
                    if planned.unsupported and not planned.supported:  # nothing it needs is in the request
                        scores[i] = -math.inf
                        continue
                    given = len(planned.supported) + len(planned.given_optional)
                    scores[i] += self.GIVEN * given - self.MISSING * len(planned.unsupported)
                    scores[i] += self.IDENTIFIED * len(planned.identified)
                    scores[i] += self.CHOSEN * len(planned.chosen)
                    scores[i] -= self.UNCHOSEN * len(planned.unchosen) + self.PROCEDURE * planned.free_text
                    if planned.free_text:
                        scores[i] += self.NAMED * arguments.name_words(name, request)
        return [(name, s) for (name, _), s in zip(options, scores, strict=True)]

    def _choose_by_likelihood(
        self,
        messages: list[ModelMessage],
        info: AgentInfo,
        tools: list[ToolDefinition],
        temperature: float,
        usage: list[RequestUsage],
    ) -> Choice | None:
        if info.allow_text_output and since_last_prompt(messages):
            return None  # a tool already answered this request: the model now answers in words
        request = last_prompt(messages)
        if info.allow_text_output or len(tools) > 1:
            scored = self.option_scores(messages, info, tools, usage)
            name = max(scored, key=lambda pair: pair[1])[0]
        else:
            name = tools[0].name
        if name is None:
            return None
        tool = next(t for t in tools if t.name == name)
        if not has_arguments(tool):
            return Choice(name, {})
        return Choice(name, self._arguments(tool, request, info, temperature, usage))
