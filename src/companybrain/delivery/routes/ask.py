"""/api/v1/ask: a question in words, answered by the copilot as the caller (`brain ask --format json`); a
request to change something becomes a proposal only when the caller's credentials carry write:actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, ValidationError

from companybrain.copilot import Copilot, MetricPlan, parse_plan
from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import ApiModel, jsonable, problem_responses
from companybrain.errors import QueryError

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/ask", tags=["ask"], responses=problem_responses(400, 401, 403, 422, 500, 503))
AskCaller = Annotated[Caller, Depends(require("read:metrics"))]
Service = Annotated["BrainService", Depends(service)]


class AskBody(ApiModel):
    """A question, and for a follow-up the previous answer (or just its plan)."""

    question: str = Field(min_length=1, max_length=2000, examples=["revenue by region in Q4 2025"])
    context: dict[str, Any] | None = Field(
        None, description="The previous answer (or its `plan`) that a follow-up such as 'and by segment?' modifies."
    )

    def previous(self) -> MetricPlan | None:
        if self.context is None:
            return None
        try:
            plan = parse_plan(self.context.get("plan", self.context))
        except ValidationError as exc:
            raise QueryError(f"context is not a copilot plan: {exc.errors()[0]['msg']}") from None
        if not isinstance(plan, MetricPlan):
            raise QueryError("a follow-up needs a previous metric_query plan in context")
        return plan


class AskAnswer(ApiModel):
    """The copilot's answer: what it understood (plan), and for an answer its evidence."""

    question: str
    user: str
    kind: str = Field(description="answer, clarify or refuse (a proposal submitted is an answer).")
    answer: str = Field(description="The answer in words, the clarifying question, or the refusal's reason.")
    reading: str | None = Field(None, description="How the question was read, in words (when the copilot says it).")
    plan: dict[str, Any] = Field(description="The validated plan (pass it back as context for a follow-up).")
    source: str = Field(description="parser, verified or llm.")
    seconds: float
    table: dict[str, Any] | None = None
    chart: dict[str, Any] | None = None
    definitions: dict[str, Any] | None = None
    filters: dict[str, Any] | None = None
    period: dict[str, Any] | None = None
    sql: str | None = None
    freshness: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    notes: list[str] | None = None


@router.post(
    "",
    response_model=AskAnswer,
    response_model_exclude_unset=True,
    summary="Ask a question; answered through the governed query path as the caller",
)
def ask(body: AskBody, caller: AskCaller, svc: Service) -> AskAnswer:
    previous = body.previous()
    with svc.use() as brain:  # a proposal through the copilot needs the same scope as POST /actions
        answer = Copilot(brain, can_propose="write:actions" in caller.scopes).ask(
            body.question, caller.principal, previous
        )
    return AskAnswer.model_validate(jsonable(answer.as_dict()))
