"""The embedded engine's entry: screen a question (instructions, SQL, sending data out, orders to change
data, forecasts), read it (copilot/reading.py) and plan it (copilot/planner.py)."""

from __future__ import annotations

import re
from datetime import date

from companybrain.copilot.forecasts import plan_forecast
from companybrain.copilot.growth import growth_period
from companybrain.copilot.lexicon import Lexicon, lexicon
from companybrain.copilot.plan import MetricPlan, RefusePlan
from companybrain.copilot.planner import Planner, Understood, describe_plan
from companybrain.copilot.reading import read
from companybrain.copilot.resolve import Checker
from companybrain.copilot.vocabulary import Vocabulary

__all__ = ["Understood", "describe_plan", "growth_period", "plan_question", "screen"]

INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier|your)|disregard|system prompt|jailbreak|pretend"
    r"|\bact as\b|you are now|developer mode|\bdrop table\b|\bdelete from\b|\binsert into\b|\bselect\b.+\bfrom\b"
    r"|;\s*--|\bexec(?:ute)?\b|run (?:this |the )?(?:code|sql|python|script|query)|\brun this\b|import os|rm -rf"
    r"|\bsql\b|bypass|override (?:the )?polic|without (?:the |any |my )?(?:row |region )?(?:filter|polic|restriction)"
)

EXFILTRATION = re.compile(
    r"\b[a-z][a-z0-9+.-]*://|\bwww\.|[\w.+-]+@[\w-]+\.[a-z]|\b(?:send|post|upload|e-?mail|forward|exfiltrate)\b.*\bto\b"
)

WRITE = re.compile(
    r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:wipe|delete|remove|erase|purge|drop|set|change|update|modify"
    r"|edit|cancel|reset|mark|flag|fire|terminate|give(?! me\b| us\b)|grant|raise|lower|increase|decrease|close"
    r"|approve|reject"
    r"|create|add|insert|rename|move|assign|reassign|deactivate|archive|overwrite|correct|fix)\b"
)

FORECAST = re.compile(
    r"\bwill (?!you\b)\w+|\bnext (?:year|quarter|month|week|delivery|shipment)\b|\bpredict"
    r"|\bforecast(?:ed)? (?:for )?next"
)


def screen(question: str) -> RefusePlan | None:
    """The refusal for instructions, SQL, code or sending data out, before any engine reads the question."""
    text = " " + question.lower().strip() + " "
    if INJECTION.search(text):
        return RefusePlan(reason="I only answer questions about the company's data; instructions, SQL and code "
                          "are not accepted.", policy="copilot-scope")  # fmt: skip
    if EXFILTRATION.search(text):
        return RefusePlan(reason="I answer here, to you; I do not send data to addresses or URLs.",
                          policy="copilot-scope")  # fmt: skip
    return None


def plan_question(
    question: str,
    vocab: Vocabulary,
    today: date,
    check: Checker,
    previous: MetricPlan | None = None,
    lex: Lexicon | None = None,
) -> Understood:
    """Plan a question; `check` validates a candidate plan for the asking user (compiles it)."""
    screened = screen(question)
    if screened is not None:
        return Understood(screened)
    if previous is None and WRITE.search(question.lower()):
        return Understood(RefusePlan(reason="I read the company's data; I do not change it. Changes are proposed as "
                                     "declared actions (`brain actions types`) and approved by the people who own "
                                     "them.", policy="copilot-read-only"))  # fmt: skip
    reading = read(question, vocab, lex or lexicon(), today)
    planner = Planner(reading, vocab, check, today, previous)
    scored = planner.predicted() is not None  # "most likely to fail next week": a model's score on the objects
    if previous is None and not scored and (forecast := plan_forecast(reading, vocab, today)):
        return Understood(forecast)  # "what demand do we expect next week": what the factory forecast
    named = {t.name for m in reading.mentions for t in m.of("metric")}
    expected = bool(named) and named <= vocab.ahead  # "pipeline next quarter": what is expected to close then
    if previous is None and FORECAST.search(question.lower()) and not scored and not expected:
        # "which machines are most likely to fail next week" is a model's score, kept on the objects; other
        # questions about the future are not answered from what happened
        return Understood(RefusePlan(reason="The copilot answers from what happened; forecasts are the AI factory's "
                                     "use cases (`brain factory list`).", policy=None))  # fmt: skip
    return planner.plan()
