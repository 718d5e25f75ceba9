"""The test helper that cuts alert expressions into operands (tests/promql.py)."""
from tests.promql import alert_rules, dashboard_queries, top_level_operands


def test_operands_of_comparisons_and_set_operators():
    expr = 'newsflow_consumer_lag_messages > 0\nand rate(newsflow_messages_in_total[10m]) == 0\nand deriv(x[10m]) > 0'
    assert top_level_operands(expr) == [
        "newsflow_consumer_lag_messages", "rate(newsflow_messages_in_total[10m])", "deriv(x[10m])"]


def test_nothing_inside_brackets_braces_or_quotes_is_cut():
    expr = 'up{job=~"newsflow-.*", instance!="a/b>c"} == 0'
    assert top_level_operands(expr) == ['up{job=~"newsflow-.*", instance!="a/b>c"}']
    expr = "sum by (stage) (rate(a[10m])) / sum by (stage) (rate(b[10m])) >= 0.05"
    assert top_level_operands(expr) == ["sum by (stage) (rate(a[10m]))", "sum by (stage) (rate(b[10m]))"]
    assert top_level_operands("histogram_quantile(0.95, sum by (le) (rate(h[5m]))) > 300") == [
        "histogram_quantile(0.95, sum by (le) (rate(h[5m])))"]


def test_the_deploy_files_have_queries():
    assert len(dashboard_queries()) >= 20
    assert all("$__" not in expr for _, expr in dashboard_queries())
    assert {r["alert"] for r in alert_rules()} >= {"NewsflowProcessDown", "NewsflowStageStalled"}
