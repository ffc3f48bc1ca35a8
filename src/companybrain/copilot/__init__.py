"""Ask the brain: questions become validated plans run through the governed query path."""

from companybrain.copilot.answer import Answer, Copilot
from companybrain.copilot.plan import ClarifyPlan, MetricPlan, RefusePlan, parse_plan

__all__ = ["Answer", "ClarifyPlan", "Copilot", "MetricPlan", "RefusePlan", "parse_plan"]
