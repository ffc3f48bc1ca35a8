"""Phrasings the embedded engine learned: country names for ISO codes, object counts, growth questions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from companybrain import Brain
from companybrain.copilot import Copilot, parse_plan
from companybrain.copilot.countries import COUNTRY_NAMES
from companybrain.copilot.parser import growth_period


@pytest.fixture(scope="module")
def brain(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    opened = Brain.open(small_demo("phrasing"))
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("question", "plan"),
    [
        ("revenue in Germany in 2025", {"metrics": ["revenue"], "where": {"country": ["DE"]}, "period": "2025"}),
        ("how much did we sell in the USA", {"metrics": ["revenue"], "where": {"country": ["US"]}}),
        ("margin % in South Korea", {"metrics": ["margin_pct"], "where": {"country": ["KR"]}}),
        ("revenue growth in 2025", {"metrics": ["revenue"], "compare": ["2025", "2024"]}),
        ("how did orders grow in Q1 2025", {"metrics": ["orders"], "compare": ["2025-Q1", "2024-Q4"]}),
        ("revenue year over year", {"metrics": ["revenue"], "compare": ["2025", "2024"]}),
        ("revenue growth by quarter in 2025", {"metrics": ["revenue"], "by": ["quarter"],
                                                "period": "2024-10-01..2025-12-31"}),
    ],
)  # fmt: skip
def test_phrasings_become_metric_plans(brain: Brain, question: str, plan: dict[str, Any]) -> None:
    answer = Copilot(brain, "embedded").ask(question, "ceo")
    assert answer.plan == parse_plan({"kind": "metric_query", **plan}), answer.text
    assert answer.kind == "answer"


def test_growth_is_said_in_words_and_unnamed_periods_ask(brain: Brain) -> None:
    answer = Copilot(brain).ask("revenue growth in 2025", "ceo")
    table = answer.extra["table"]
    assert table["columns"] == ["revenue 2025", "revenue 2024", "revenue change"]
    ((now, before, change),) = table["rows"]
    assert change == pytest.approx(now - before) and now > 0 and before > 0
    assert "in 2025 against" in answer.text and "in 2024 (" in answer.text and "%)" in answer.text
    assert Copilot(brain).ask("show me revenue growth", "ceo").kind == "clarify"
    assert Copilot(brain).ask("revenue growth ytd", "ceo").kind == "clarify"
    today = date(2026, 3, 1)
    assert growth_period("2025-01", None, today) == ("2024-12-01..2025-01-31", "month")
    assert growth_period(None, "quarter", today) == ("2025-01-01..2025-12-31", "quarter")
    assert growth_period("last_90_days", None, today) is None


def test_objects_are_counted_as_the_user_may_see_them(brain: Brain) -> None:
    copilot = Copilot(brain)
    everyone = copilot.ask("how many customers", "ceo")
    rep = copilot.ask("how many customers", "emea_rep")
    emea = copilot.ask("how many customers in EMEA", "ceo")
    assert everyone.kind == rep.kind == emea.kind == "answer"
    assert rep.extra["count"] == emea.extra["count"] < everyone.extra["count"]
    assert rep.extra["count"] == brain.count_objects("Customer", "region = 'EMEA'", "ceo")
    body = rep.as_dict()
    assert body["plan"] == {
        "kind": "object_count", "object": "Customer", "where": {}, "by": [],
        "dated": None, "period": None, "between": [],
    }  # fmt: skip
    assert body["table"] == {"columns": ["count"], "rows": [[rep.extra["count"]]]}
    german = copilot.ask("how many customers do we have in Germany", "ceo")
    assert german.plan.model_dump()["where"] == {"country": ["DE"]}
    machines = copilot.ask("how many machines", "ceo")
    assert machines.plan.kind == "object_count"  # not machine_failures
    assert copilot.ask("how many orders in 2025", "ceo").plan.kind == "metric_query"  # a metric wins
    per_region = copilot.ask("number of customers by region", "ceo")
    assert per_region.plan.model_dump()["by"] == ["region"] and per_region.kind == "answer"
    rows = {row[0]: row[1] for row in per_region.extra["table"]["rows"]}
    assert rows["EMEA"] == emea.extra["count"]
    assert copilot.ask("how many employees", "emea_rep").kind == "refuse"  # headcount is HR data


def test_a_count_plan_is_validated_like_any_other() -> None:
    with pytest.raises(ValueError):
        parse_plan({"kind": "object_count", "object": "Customer; DROP TABLE x"})
    with pytest.raises(ValueError):
        parse_plan({"kind": "object_count", "object": "Customer", "where": {"1=1 or region": ["x"]}})


def test_every_country_code_has_a_name() -> None:
    assert len(COUNTRY_NAMES) == 249 and all(len(code) == 2 and code.isupper() for code in COUNTRY_NAMES)
    assert COUNTRY_NAMES["GB"][:2] == ("United Kingdom", "UK")


def test_the_dimension_of_the_object_asked_about(brain: Brain) -> None:
    copilot = Copilot(brain)
    tickets = copilot.ask("tickets by category in 2025", "ceo")  # the ticket's own category, not product family's
    assert tickets.plan.model_dump()["by"] == ["Ticket.category"], tickets.text
    people = copilot.ask("people per region", "ceo")  # the employee's region, not the customer's
    assert people.plan.model_dump()["by"] == ["Employee.region"] and people.plan.model_dump()["metrics"] == [
        "headcount"
    ]
    pipeline = copilot.ask("pipeline by territory", "ceo")  # several ways and none declared: asked, never picked
    assert pipeline.kind == "clarify" and any("territory" in option for option in pipeline.plan.options)  # type: ignore[union-attr]


def test_a_boolean_property_s_own_word_is_a_filter(brain: Brain) -> None:
    """'active reps' is Rep.is_active = true, 'orders under a promotion' Order.promotion = true; a word that is
    a value of other objects only ('active' employees, for a count of reps) is asked about, never dropped."""
    copilot = Copilot(brain)
    active = copilot.ask("how many active sales reps do we have?", "cfo")
    assert active.plan.model_dump()["where"] == {"is_active": ["true"]}, active.text
    assert active.extra["count"] == brain.count_objects("Rep", "is_active", "cfo") < brain.count_objects("Rep")
    promoted = copilot.ask("how much revenue came from orders placed under a promotion in 2025?", "cfo")
    assert promoted.plan.model_dump()["where"] == {"Order.promotion": ["true"]}, promoted.text
    assert promoted.kind == "answer" and "Order.promotion = true" in promoted.text
    everything = copilot.ask("revenue in 2025", "cfo").result
    assert promoted.result is not None and everything is not None
    assert 0 < promoted.result.records()[0]["revenue"] < everything.records()[0]["revenue"]
    # 'open' is a value of tickets and deals, not of customers: not silently left out of the count
    assert copilot.ask("how many open customers", "cfo").kind != "answer"


@pytest.mark.parametrize(
    ("question", "plan"),
    [
        # verbs and adverbs it does not know are left out, and said to be
        ("which plant racked up the highest labour cost last quarter?",
         {"metrics": ["labour_cost"], "by": ["site"], "period": "last_quarter", "order_by": ["-labour_cost"],
          "limit": 1}),
        ("revenue in 2025, and how does that stack up against 2024?",
         {"metrics": ["revenue"], "compare": ["2025", "2024"]}),
        # two periods named apart and set against each other; the past n quarters; biggest first is an order
        ("scrap rate over the past two quarters, quarter by quarter",
         {"metrics": ["scrap_rate"], "by": ["quarter"], "period": "2025-07-01..2025-12-31"}),
        ("revenue by family in 2025, biggest first",
         {"metrics": ["revenue"], "by": ["family"], "period": "2025", "order_by": ["-revenue"]}),
        # a share of a count is the ratio whose top it is; a site's key is a name of the site
        ("what share of purchase orders came in late last year?",
         {"metrics": ["supplier_late_rate"], "period": "last_year"}),
        ("labour cost at MKE last quarter",
         {"metrics": ["labour_cost"], "where": {"production_line.site.site_id": ["MKE"]}, "period": "last_quarter"}),
        # a value word that a metric's own name holds is that metric
        ("how many support tickets are open right now?", {"metrics": ["open_tickets"]}),
        # a month and the year it is of, a few words on; set against the same month a year before
        ("How did January's revenue this year compare with January last year?",
         {"metrics": ["revenue"], "compare": ["2026-01", "2025-01"]}),
        ("How did February's revenue compare with the same month last year?",
         {"metrics": ["revenue"], "compare": ["2026-02", "2025-02"]}),
        # an imperative verb first; a list of parts with their noun named before it, and the whole 'of it'
        ("Split last month's cost of goods sold into materials, labour and overhead.",
         {"metrics": ["material_cost", "labour_cost", "overhead_cost"], "period": "last_month"}),
        ("What was our cost to serve in Q3 2025, and how much of it was freight, returns and warranty?",
         {"metrics": ["cost_to_serve", "freight_cost", "returns_cost", "warranty_cost"], "period": "2025-Q3"}),
        # 'how many' asks for a count, not money; the counted noun is a filter, a later customer noun is not counted
        ("How many bearings did we sell to EMEA customers in 2025?",
         {"metrics": ["units_sold"], "where": {"family": ["Bearings"], "region": ["EMEA"]}, "period": "2025"}),
        # a state said another way is the metric that means it, and not a filter on top of it
        ("How many urgent tickets are still unresolved?",
         {"metrics": ["open_tickets"], "where": {"Ticket.priority": ["urgent"]}}),
        # a verb rewritten to two words counts as one word the figure does not use
        ("What was the material cost of the electric motors we sold in January?",
         {"metrics": ["material_cost"], "where": {"family": ["Electric Motors"]}, "period": "2026-01"}),
        # a state of the counted records (a deal won) that names a figure of theirs is that figure
        ("Which three reps won the most deals last year?",
         {"metrics": ["deals_won"], "by": ["rep"], "period": "last_year", "order_by": ["-deals_won"], "limit": 3}),
        ("How many tickets did EMEA customers open in January?",
         {"metrics": ["tickets"], "where": {"region": ["EMEA"]}, "period": "2026-01"}),
        # the records named (people) and which of them (left); the head word of one figure's name
        ("How many people have left since October?", {"metrics": ["exits"], "period": "2025-10-01..2026-03-01"}),
        ("Utilisation by site last quarter",
         {"metrics": ["capacity_utilisation"], "by": ["site"], "period": "last_quarter"}),
        ("How late do suppliers deliver on average this year?",
         {"metrics": ["supplier_delay_days"], "period": "this_year"}),
    ],
)  # fmt: skip
def test_words_it_does_not_know_are_left_out_only_when_they_cannot_narrow_the_figure(
    brain: Brain, question: str, plan: dict[str, Any]
) -> None:
    answer = Copilot(brain).ask(question, "ceo")
    assert answer.plan == parse_plan({"kind": "metric_query", **plan}), answer.text
    assert answer.kind == "answer"


@pytest.mark.parametrize(
    "question",
    [
        "what is the revenue of our competitors",  # a kind of thing the data does not hold
        "revenue from returning customers",
        "revenue for the blue widgets",
        "revenue in Milwuakee",  # a near spelling of a value: asked, not dropped
        "breakdowns per plant since the start of the fiscal period",  # a word about time it could not place
        "how many sites were opened before 2010",  # a count of objects with no date has no period
        "is that good?",  # one word of 'cost of goods sold' names no figure
        "revenue in 2027",  # not happened yet
        "How many people did we hire?",  # a verb tied to a name of the model (hire_date) may narrow it
        "How many deals did we lose last year?",  # 'lose' reads as exits (people), not a kind of deal
        "backlog by month in 2025",  # a figure of today has no history
        "what was the order book in March 2025",
        "What was revenue in 2019?",  # before the records start: said, not answered as an empty figure
        "how much did we book last quarter",  # an amount asked, and 'book' reads as orders, a count
    ],
)
def test_words_that_could_change_the_answer_are_asked_about(brain: Brain, question: str) -> None:
    answer = Copilot(brain).ask(question, "ceo")
    assert answer.kind in ("clarify", "refuse") and answer.result is None, answer.text


def test_prediction_counts_and_spoken_thresholds(brain: Brain) -> None:
    copilot = Copilot(brain)
    counted = copilot.ask("how many machines have a failure risk of 20% or more?", "data_steward")
    assert counted.plan.model_dump() == {"kind": "prediction_list", "usecase": "machine_failure_risk", "where": {},
                                         "limit": None, "at_least": 0.2, "count": True}  # fmt: skip
    listed = copilot.ask("which machines have a failure risk above 20%?", "data_steward")
    rows = listed.extra["table"]["rows"]
    assert counted.extra["table"]["rows"] == [[len(rows)]] and all(r[-1] >= 0.2 for r in rows)
    top = copilot.ask("top 3 machines at risk of failing", "data_steward")  # three, whatever their level
    assert top.plan.model_dump()["limit"] == 3 and top.plan.model_dump()["at_least"] is None


def test_a_what_if_said_as_a_level_or_a_counterfactual(brain: Brain) -> None:
    plan = (
        Copilot(brain)
        .ask("if Milwaukee line 3 had run at 80% of capacity through 2025, what would revenue have been?", "cfo")
        .plan
    )
    assert plan.model_dump()["change"] == {"type": "capacity", "site": "Milwaukee Works", "change_pct": -20.0,
                                           "line": "L3"}  # fmt: skip


def test_a_kind_and_a_number_is_the_value_so_named_or_asked_about(brain: Brain) -> None:
    """'line 3' is the line whose name ends so among those the user may see: one for the Milwaukee plant
    manager; every site's for the CEO (asked which); 'line 12', where there is none, is asked about."""
    copilot = Copilot(brain)
    mine = copilot.ask("How many hours did line 3 use in February?", "mke_plant_manager")
    expected = {"kind": "metric_query", "metrics": ["hours_used"], "where": {"line": ["Milwaukee line 3"]}}
    assert mine.plan == parse_plan({**expected, "period": "2026-02"}), mine.text
    every = copilot.ask("hours used on line 3 in February", "ceo")
    assert every.kind == "clarify" and "Milwaukee line 3" in every.plan.model_dump()["options"], every.text
    assert copilot.ask("scrap rate of line 12 last month", "ceo").kind == "clarify"


def test_which_n_things_ranks_those_things(brain: Brain) -> None:
    """'which three reps ... in my region': the reps are ranked, the region is where the rep looks."""
    answer = Copilot(brain).ask("Which three reps had the most pipeline in my region?", "emea_rep")
    plan = answer.plan.model_dump()
    assert plan["by"] == ["rep"] and plan["limit"] == 3 and plan["order_by"] == ["-pipeline"], answer.text


def test_periods_compared_side_by_side_as_written(brain: Brain) -> None:
    """'February against February last year': the first named first, one row per group with both values and
    the change (first - second); the word that sets them against each other is not 'ignored'."""
    copilot = Copilot(brain)
    answer = copilot.ask("How did our revenue in February compare with February last year?", "cfo")
    assert answer.plan.model_dump()["compare"] == ["2026-02", "2025-02"], answer.text
    assert "ignored" not in (answer.reading or "")
    by_region = copilot.ask("revenue by region 2025 vs 2024", "cfo")
    table = by_region.extra["table"]
    assert table["columns"] == ["region", "revenue 2025", "revenue 2024", "revenue change"]
    for region, now, before, change in table["rows"]:
        assert change == pytest.approx(now - before)
        alone = copilot.ask(f"revenue in {region} in 2025", "cfo")
        assert alone.result is not None and alone.result.rows[0][0] == pytest.approx(now)
    biggest = max(table["rows"], key=lambda r: abs(r[3]))
    assert f"the biggest change {biggest[0]}" in by_region.text


def test_objects_counted_over_a_period_by_their_date(brain: Brain) -> None:
    """'claims we turned down last year': counted by the claim's date; 'people we hired in 2025': the verb
    names the date (hire_date) among several; with no such word, the date the type's figures use, else asked."""
    copilot = Copilot(brain)
    claims = copilot.ask("How many warranty claims did we turn down last year?", "ceo")
    plan = claims.plan.model_dump()
    assert plan["where"] == {"status": ["rejected"]} and plan["dated"] == "claim_date", claims.text
    where = "status = 'rejected' AND claim_date >= DATE '2025-01-01' AND claim_date < DATE '2026-01-01'"
    assert claims.extra["count"] == brain.count_objects("WarrantyClaim", where, "ceo") > 0
    hired = copilot.ask("How many people did we hire in 2025?", "ceo")
    assert hired.plan.model_dump()["dated"] == "hire_date", hired.text
    in_2025 = "hire_date >= DATE '2025-01-01' AND hire_date < DATE '2026-01-01'"
    assert hired.extra["count"] == brain.count_objects("Employee", in_2025, "ceo")
    assert "by hire date" in (hired.reading or "") and "ignored" not in (hired.reading or "")
    shipped = copilot.ask("how many shipments in January", "ceo")  # the date the shipment figures use
    assert shipped.plan.model_dump()["dated"] == "ship_date", shipped.text
    operators = copilot.ask("how many machine operators in 2025", "ceo")  # hired or left? exits is about leaving
    assert operators.kind == "clarify" and operators.plan.model_dump()["options"] == ["hire_date", "exit_date"]
    delivered = copilot.ask("how many shipments were delivered in January", "ceo")
    assert delivered.plan.model_dump()["dated"] == "delivered_date", delivered.text


def test_a_hostile_count_period_is_refused_by_the_plan(brain: Brain) -> None:
    """A count plan from a file or a model: its date property is a name and its bounds are dates, never SQL;
    a name that is not one of the type's dates is refused by name."""
    from pydantic import ValidationError

    from companybrain.copilot.plan import CountPlan, validate_count
    from companybrain.errors import QueryError

    for dated in ("salary", "exit_reason"):
        plan = CountPlan(object="Employee", dated=dated, between=[date(2025, 1, 1), date(2026, 1, 1)])
        with pytest.raises(QueryError, match="no date property"):
            validate_count(brain, plan, "ceo")
    backwards = CountPlan(object="Employee", dated="hire_date", between=[date(2026, 1, 1), date(2025, 1, 1)])
    with pytest.raises(QueryError, match="between"):
        validate_count(brain, backwards, "ceo")

    with pytest.raises(ValidationError):
        parse_plan({"kind": "object_count", "object": "Employee", "dated": "hire_date; DROP TABLE x", "between": []})
    with pytest.raises(ValidationError):
        parse_plan(
            {"kind": "object_count", "object": "Employee", "dated": "hire_date", "between": ["2025-01-01' OR 1=1 --"]}
        )


def test_how_much_asks_for_an_amount_not_a_count(brain: Brain) -> None:
    """'how much did we win': the amount won (a figure of money on the same objects), 'how many deals did we
    win': the count."""
    copilot = Copilot(brain)
    assert copilot.ask("how much did we win in Q4", "ceo").plan.model_dump()["metrics"] == ["won_amount"]
    assert copilot.ask("How much did we book in closed-won deals in Q4?", "ceo").plan.model_dump()["metrics"] == [
        "won_amount"
    ]
    assert copilot.ask("how many deals did we win in Q4", "ceo").plan.model_dump()["metrics"] == ["deals_won"]


@pytest.mark.parametrize(
    ("question", "compare"),
    [
        ("How did Q3 sales compare with Q3 a year earlier?", ["2025-Q3", "2024-Q3"]),
        ("revenue in Q4 against the same quarter a year ago", ["2025-Q4", "2024-Q4"]),
        ("revenue in the second half of 2025 versus the same half of 2024", ["2025-07-01..2025-12-31",
                                                                            "2024-07-01..2024-12-31"]),
        ("revenue in the first half of 2025 against the second half of 2024", ["2025-01-01..2025-06-30",
                                                                              "2024-07-01..2024-12-31"]),
    ],
)  # fmt: skip
def test_a_quarter_or_a_half_against_the_one_a_year_before(brain: Brain, question: str, compare: list[str]) -> None:
    """The words between the two periods stay read ('Q3 *sales* compared with Q3 a year earlier')."""
    answer = Copilot(brain).ask(question, "cfo")
    assert answer.plan.model_dump()["metrics"] == ["revenue"] and answer.plan.model_dump()["compare"] == compare


def test_everyday_phrases_for_people_and_customer_spend(brain: Brain) -> None:
    """'on the books' is not 'booked' orders; 'spend with us' is revenue; a country's adjective first in the
    question is its country ('German revenue')."""
    copilot = Copilot(brain)
    assert copilot.ask("How many people do we have on the books?", "ceo").plan.model_dump()["metrics"] == ["headcount"]
    spend = copilot.ask("What did OEM customers spend with us in 2025?", "cfo").plan.model_dump()
    assert spend["metrics"] == ["revenue"] and spend["where"] == {"segment": ["OEM"]}
    assert copilot.ask("German revenue in 2025", "cfo").plan.model_dump()["where"] == {"country": ["DE"]}


def test_how_many_we_have_counts_those_there_today(brain: Brain) -> None:
    """'how many machine operators do we have': the project's count of today on that type (headcount: the
    active ones), not every employee record ever kept; 'how many customers in Germany' has no such count."""
    copilot = Copilot(brain)
    operators = copilot.ask("How many machine operators do we have?", "ceo")
    assert operators.plan.model_dump()["metrics"] == ["headcount"], operators.text
    assert operators.plan.model_dump()["where"] == {"Employee.role": ["Machine Operator"]}
    active = brain.count_objects("Employee", "role = 'Machine Operator' AND status = 'active'", "ceo")
    assert operators.result is not None and operators.result.rows[0][0] == active
    assert active < brain.count_objects("Employee", "role = 'Machine Operator'", "ceo")
    assert copilot.ask("how many customers do we have in Germany", "ceo").plan.kind == "object_count"


def test_counts_by_the_date_their_figures_use_and_yearly_figures_of_today(brain: Brain) -> None:
    """'how many orders got cancelled last year': the orders metric leaves cancelled ones out, so the orders are
    counted, by the date the project's order figures use (order_date); 'annual payroll' of a yearly figure
    of today is that figure, while 'headcount by month' is still refused."""
    copilot = Copilot(brain)
    cancelled = copilot.ask("How many orders got cancelled last year?", "ceo")
    plan = cancelled.plan.model_dump()
    assert plan["kind"] == "object_count" and plan["where"] == {"status": ["cancelled"]}, cancelled.text
    assert plan["dated"] == "order_date"
    where = "status = 'cancelled' AND order_date >= DATE '2025-01-01' AND order_date < DATE '2026-01-01'"
    assert cancelled.extra["count"] == brain.count_objects("Order", where, "ceo")
    payroll = copilot.ask("What's our annual payroll by region?", "ceo")
    assert payroll.kind == "answer" and "year" not in payroll.plan.model_dump()["by"], payroll.text
    assert copilot.ask("headcount by month", "ceo").kind != "answer"


def test_a_prediction_about_next_week_is_the_model_s_score(brain: Brain) -> None:
    """A model's score is about what comes next: 'most likely to break down in the next week' lists it; a
    question about a future figure is still not answered from what happened."""
    copilot = Copilot(brain)
    risky = copilot.ask("Which five machines are most likely to break down in the next week?", "ceo")
    assert risky.plan.kind == "prediction_list" and risky.kind == "answer", risky.text
    assert copilot.ask("what will revenue be next quarter", "ceo").kind == "refuse"


def test_ranked_by_a_count_of_other_things_or_of_groups(brain: Brain) -> None:
    """'which customers buy the most' ranks customers by a count of themselves (one each): asked; machine failures
    count downtime events, so machines, and machine types, rank by them."""
    copilot = Copilot(brain)
    assert copilot.ask("which customers buy the most?", "ceo").kind == "clarify"
    by_type = copilot.ask("Machine failures by machine type last year, most first.", "ceo")
    assert by_type.plan.model_dump()["order_by"] == ["-machine_failures"], by_type.text
    by_machine = copilot.ask("which machines had the most machine failures", "ceo")
    assert by_machine.kind == "answer" and by_machine.plan.model_dump()["metrics"] == ["machine_failures"]


def test_a_place_before_a_noun_of_objects_that_are_there(brain: Brain) -> None:
    """'the Pune lines': the lines whose site is Pune (a value of a type the noun links to, where the noun's
    own objects have no such property); 'how many capacity hours' asks for that figure, not for lines."""
    copilot = Copilot(brain)
    hours = copilot.ask("How many capacity hours did the Pune lines have available last quarter?", "ceo")
    plan = hours.plan.model_dump()
    assert plan["metrics"] == ["hours_available"] and plan["where"] == {"site": ["Pune Plant"]}, hours.text
    alone = copilot.ask("hours available at the Pune Plant last quarter", "ceo")
    assert hours.result is not None and alone.result is not None and hours.result.rows == alone.result.rows
    # customers have a country of their own: US customers a rep may not see are not those of a US site
    hidden = copilot.ask("How many tickets did US customers open last month?", "emea_rep")
    assert hidden.kind == "refuse" and hidden.result is None, hidden.text


def test_units_produced_said_as_produce_or_turn_out(brain: Brain) -> None:
    copilot = Copilot(brain)
    for question in ("How many units did we produce each week in 2025?", "How many units did we turn out in 2025?"):
        assert copilot.ask(question, "ceo").plan.model_dump()["metrics"] == ["units_produced"], question


def test_a_what_if_asked_for_one_figure_answers_with_that_figure(brain: Brain) -> None:
    """'how much capex does the new Pune line scenario assume': that KPI alone, said first; 'what does that
    add to the salary bill': the cost of the hires (the salary bill itself is HR data the CFO may not read)."""
    copilot = Copilot(brain)
    capex = copilot.ask("How much capex does the new Pune line scenario assume?", "cfo")
    assert capex.plan.model_dump()["kpis"] == ["capex"], capex.text
    ((kpi, _, scenario, _, _),) = capex.extra["table"]["rows"]
    assert kpi == "capex" and scenario == brain.project.scenarios["pune_new_line"].model_dump()["changes"][0]["capex"]
    hires = copilot.ask("If we hire the 40 extra operators in Bologna, what does that add to the salary bill?", "cfo")
    rows = {r[0]: r for r in hires.extra["table"]["rows"]}
    assert set(rows) == {"headcount_cost", "added_people_cost"}, hires.text
    assert rows["headcount_cost"][2] is None and rows["added_people_cost"][3] > 0
    assert len(copilot.ask("what if we raise pump prices by 5%?", "cfo").extra["table"]["rows"]) > 2  # every KPI
    from pydantic import ValidationError

    with pytest.raises(ValidationError):  # a plan from a model or a file: KPI names are names, never SQL
        parse_plan({"kind": "scenario", "name": "pumps_price_up", "kpis": ["revenue'; DROP TABLE x --"]})


def test_a_threshold_said_in_words_is_applied_or_asked_about(brain: Brain) -> None:
    """'more than a 20% chance', 'better than even odds': the level the list is cut at; a bound it cannot
    apply ('below 20%') is asked about, never dropped."""
    copilot = Copilot(brain)
    spoken = copilot.ask("How many machines have more than a 20% chance of failing in the next week?", "ceo")
    assert spoken.plan.model_dump()["at_least"] == 0.2 and spoken.plan.model_dump()["count"] is True
    below = copilot.ask("which machines have a failure risk below 20%?", "data_steward")
    assert below.kind == "clarify" and below.result is None, below.text


def test_two_halves_named_apart_are_compared_and_compare_alone_is_asked(brain: Brain) -> None:
    """'attrition in the first half of last year with the first half of 2024': both halves, first named first;
    'compare' with nothing to compare against asks rather than answering one figure."""
    copilot = Copilot(brain)
    halves = copilot.ask("Compare attrition in the first half of last year with the first half of 2024.", "ceo")
    assert halves.plan.model_dump()["compare"] == ["2025-01-01..2025-06-30", "2024-01-01..2024-06-30"]
    alone = copilot.ask("How does EMEA revenue compare this year?", "ceo")
    assert alone.kind == "clarify" and alone.result is None, alone.text
    groups = copilot.ask("compare revenue by region for 2025", "ceo")
    assert groups.plan.model_dump()["by"] == ["region"] and groups.kind == "answer"


def test_records_placed_by_their_own_date_when_their_event_is_said(brain: Brain) -> None:
    """'warranty claims filed last year' are placed by the claim's date; 'warranty cost last year' by the
    order's date, as the margin counts it; what they cost is the figure, not how many there were."""
    copilot = Copilot(brain)
    filed = copilot.ask("What did warranty claims filed last year cost us, by failure mode?", "cfo")
    assert filed.plan.model_dump()["metrics"] == ["warranty_cost_by_claim_date"], filed.text
    assert "claim date" in (filed.reading or "")
    plain = copilot.ask("what did warranty cost us last year", "cfo")
    assert plain.plan.model_dump()["metrics"] == ["warranty_cost"], plain.text


def test_a_lookup_answers_only_what_the_object_shows(brain: Brain) -> None:
    """'the contact at account A1' (a type the user may not read), 'rep R1's quota attainment' (words it does
    not know), 'how much of K1 is on hand' (another type's records): refused or asked about, never answered with
    the object alone; 'the details of machine M1' and 'the status of order 1' are the object."""
    copilot = Copilot(brain)
    account = brain.objects("Account", limit=1, user="ceo")[0]["account_id"]
    contact = copilot.ask(f"Who's the contact at account {account}?", "sales_model")
    assert contact.kind == "refuse" and "Contact" in contact.text, contact.text
    rep = brain.objects("Rep", limit=1, user="ceo")[0]["rep_id"]
    assert copilot.ask(f"What's rep {rep}'s quota attainment this year?", "sales_model").kind == "clarify"
    part = brain.objects("Component", limit=1, user="ceo")[0]["component_id"]
    assert copilot.ask(f"How much of component {part} do we have on hand?", "planner").kind == "clarify"
    machine = brain.objects("Machine", limit=1, user="ceo")[0]["machine_id"]
    details = copilot.ask(f"Give me the details of machine {machine}.", "ceo")
    assert details.plan.model_dump() == {"kind": "object_lookup", "object": "Machine", "key": machine}, details.text


def test_across_all_is_the_total_and_how_many_days_is_a_figure_in_days(brain: Brain) -> None:
    copilot = Copilot(brain)
    total = copilot.ask("revenue across all regions in 2025", "ceo")
    assert total.plan.model_dump()["by"] == [] and total.kind == "answer", total.text
    assert copilot.ask("revenue across regions in 2025", "ceo").plan.model_dump()["by"] == ["region"]
    cycle = copilot.ask("On average, how many days did it take to close the deals we closed in 2025?", "ceo")
    assert cycle.plan.model_dump()["metrics"] == ["sales_cycle_days"], cycle.text


def test_how_much_customers_bought_is_the_amount_of_what_they_bought(brain: Brain) -> None:
    """Orders and buying customers hold no amount; what they bought is the amount of the records that make up
    the orders (their lines): revenue, the first figure of money declared on them where more is better."""
    copilot = Copilot(brain)
    for question in ("How much have German customers bought so far this year?",
                     "How much have German customers ordered so far this year?"):  # fmt: skip
        answer = copilot.ask(question, "ceo")
        assert answer.plan.model_dump()["metrics"] == ["revenue"], answer.text
        assert answer.plan.model_dump()["where"] == {"country": ["DE"]}
    assert copilot.ask("how many orders were placed in 2025", "ceo").plan.model_dump()["metrics"] == ["orders"]


def test_forecast_weeks_said_in_words() -> None:
    from companybrain.copilot.forecasts import forecast_weeks

    sunday = date(2026, 3, 1)
    assert forecast_weeks("demand next week", sunday) == (date(2026, 3, 2), date(2026, 3, 2))
    assert forecast_weeks("over the next 4 weeks", sunday) == (date(2026, 3, 2), date(2026, 3, 23))
    assert forecast_weeks("the next three weeks", sunday) == (date(2026, 3, 2), date(2026, 3, 16))
    assert forecast_weeks("for the weeks starting in march", sunday) == (date(2026, 3, 2), date(2026, 3, 30))
    assert forecast_weeks("in april 2026", sunday) == (date(2026, 4, 6), date(2026, 4, 27))
    assert forecast_weeks("in february", sunday) == (date(2027, 2, 1), date(2027, 2, 22))  # the one ahead
    assert forecast_weeks("the week of 2 march 2026", sunday) == (date(2026, 3, 2), date(2026, 3, 2))
    assert forecast_weeks("the week of march 4", sunday) == (date(2026, 3, 2), date(2026, 3, 2))
    assert forecast_weeks("demand for gearboxes", sunday) is None


def test_a_name_said_short_a_figure_that_fits_its_values_and_how_long(brain: Brain) -> None:
    """'Jiangsu Hengli' is the supplier whose longer name starts so; 'how late was X with its deliveries' is the
    suppliers' delay (the deliveries' count cannot be filtered by a supplier); 'how long does it take to close a
    deal' is a figure in days; 'goods that came back in Q4' are placed by their return date."""
    copilot = Copilot(brain)
    supplier = next(s["name"] for s in brain.objects("Supplier", limit=None, user="ceo") if len(s["name"].split()) > 2)
    short = " ".join(supplier.split()[:2])
    late = copilot.ask(f"On average, how late was {short} with its deliveries in 2025?", "ceo")
    plan = late.plan.model_dump()
    assert plan["metrics"] == ["supplier_delay_days"] and plan["where"] == {"supplier": [supplier]}, late.text
    cycle = copilot.ask("How long does it take us on average to close a deal? Last year's numbers, please.", "ceo")
    assert cycle.plan.model_dump()["metrics"] == ["sales_cycle_days"], cycle.text
    assert copilot.ask("how long is the backlog", "ceo").kind == "clarify"
    back = copilot.ask("How much did we credit customers for goods that came back in Q4?", "cfo")
    assert back.plan.model_dump()["metrics"] == ["returns_cost_by_return_date"], back.text


def test_biggest_things_odds_and_better_or_worse(brain: Brain) -> None:
    """'our ten biggest customers' ranks them by revenue (the first money figure where more is better); 'better
    than even odds of being won' cuts the scores at 0.5; 'this quarter better or worse than last quarter'
    compares the two; a figure named by its own name is what is asked, not a masked property its verb names."""
    copilot = Copilot(brain)
    biggest = copilot.ask("Who were our ten biggest customers over the last 12 months?", "ceo").plan.model_dump()
    assert biggest["metrics"] == ["revenue"] and biggest["by"] == ["customer"] and biggest["limit"] == 10
    odds = copilot.ask("How many open opportunities have better than even odds of being won?", "sales_model")
    assert odds.plan.model_dump()["at_least"] == 0.5, odds.text
    assert odds.plan.model_dump()["where"] == {"is_closed": ["false"]}  # open ones: not closed
    quarters = copilot.ask("Is our win rate this quarter better or worse than last quarter?", "ceo")
    assert quarters.plan.model_dump()["compare"] == ["qtd", "last_quarter"], quarters.text
    margin = copilot.ask("What gross margin did the control panels made in Wroclaw earn last year?", "ceo")
    assert margin.plan.model_dump()["metrics"] == ["gross_margin"], margin.text
    assert copilot.ask("what is the average salary in Bologna", "ceo").kind == "refuse"


def test_the_opposite_word_of_a_flag_is_that_flag_false(brain: Brain) -> None:
    """'open deals': opportunities that are not closed; 'inactive reps': reps not active."""
    copilot = Copilot(brain)
    deals = copilot.ask("How many open deals do we have?", "ceo")
    assert deals.plan.model_dump()["where"] == {"Opportunity.is_closed": ["false"]}, deals.text
    assert deals.result is not None
    assert deals.result.rows[0][0] == brain.count_objects("Opportunity", "NOT is_closed", "ceo")
