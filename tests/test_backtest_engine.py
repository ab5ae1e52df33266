"""Backtest domain tests: the controllers, the engine entry points and one regression test per patch.

All runs are offline on deterministic synthetic candles (tests/candles.py); windows are one day
of 1m candles or less. Tests named ``test_patch_*`` first show the bug on hummingbot's unpatched
code path, then show the patched path is fine.
"""
import asyncio
import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.backtesting.backtesting_data_provider import BacktestingDataProvider
from hummingbot.strategy_v2.backtesting.backtesting_engine_base import BacktestingEngineBase
from hummingbot.strategy_v2.backtesting.executors_simulator.dca_executor_simulator import DCAExecutorSimulator
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig, DCAMode
from svc_backtest import engine, patches
from svc_backtest.errors import BadRequest, Cancelled, Invalid, NotFound
from tests.candles import COLUMNS, DAY, T0, SyntheticMarket, flat_candles, generate_candles

# hummingbot's ExecutorSimulation passes numpy bools to pydantic: one warning per executor snapshot
pytestmark = pytest.mark.filterwarnings("ignore:In future, it will be an error for 'np.bool':DeprecationWarning")

CONNECTOR, PAIR = "binance_perpetual", "BTC-USDT"
START, END = T0, T0 + DAY
ALL_CONTROLLERS = [(t, n) for t, names in engine.list_controllers().items() for n in names]


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(T0 - DAY, T0 + 2 * DAY, seed=7)


def make_job(name: str, start: int = START, end: int = END, **config) -> dict:
    cfg = {"controller_name": name, "connector_name": CONNECTOR, "trading_pair": PAIR, "total_amount_quote": 1000}
    cfg.update(config)
    return {"config": cfg, "start": start, "end": end, "backtesting_resolution": "1m", "trade_cost": 0.0002}


_runs = {}


def run_default(market, name):
    """One default-config run per controller, shared by the tests that only read it."""
    if name not in _runs:
        _runs[name] = engine.run_backtest(make_job(name), market.loader)
    return _runs[name]


def assert_valid_result(result: dict):
    json.dumps(result, allow_nan=False)  # strict JSON: no NaN/inf, no Decimal/Enum
    res = result["results"]
    assert res["total_executors"] == len(result["executors"])
    assert isinstance(res["close_types"], dict)
    assert sum(res["close_types"].values()) == res["total_executors"]
    for key in ("net_pnl_quote", "sharpe_ratio", "max_drawdown_usd", "accuracy", "profit_factor"):
        assert isinstance(res[key], (int, float)) and math.isfinite(res[key]), key
    assert 0 <= res["accuracy"] <= 1
    assert res["max_drawdown_usd"] <= 0
    assert len(result["pnl_timeseries"]) == result["meta"]["candles"]


def run_base_engine(market, name, start=START, end=END, connector=CONNECTOR, **config):
    """Hummingbot's unpatched engine, made offline by pre-filling its candles and trading rules."""
    cfg = engine.build_controller_config(make_job(name, connector_name=connector, **config)["config"])
    base = BacktestingEngineBase()
    provider = base.backtesting_data_provider
    provider.trading_rules[connector] = {PAIR: engine.default_trading_rule(PAIR)}
    for interval in ("1m", "3m"):
        provider.candles_feeds[f"{connector}_{PAIR}_{interval}"] = market.candles(interval, start - DAY // 2, end)
    return asyncio.run(base.run_backtesting(cfg, start, end, "1m", 0.0002))


def executor_dict(pnl, filled, close_type="TAKE_PROFIT", side=1, ts=T0, **extra):
    d = {"id": f"ex{ts}{pnl}", "timestamp": ts, "type": "position_executor",
         "close_type": close_type, "close_timestamp": ts + 600, "status": 4 if close_type else 2,
         "net_pnl_pct": pnl / filled if filled else 0, "net_pnl_quote": pnl, "cum_fees_quote": 0.1,
         "filled_amount_quote": filled, "is_active": close_type is None, "is_trading": False,
         "config": {"type": "position_executor", "connector_name": CONNECTOR, "trading_pair": PAIR,
                    "side": side, "amount": 1, "entry_price": 100, "timestamp": ts},
         "custom_info": {"side": side, "current_position_average_price": 100}}
    d.update(extra)
    return d


# ============================================================ candles

def test_synthetic_candles_are_deterministic_and_hummingbot_shaped():
    a = generate_candles(START, START + 3600, seed=3)
    b = generate_candles(START, START + 3600, seed=3)
    c = generate_candles(START, START + 3600, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["close"].equals(c["close"])
    assert list(a.columns) == COLUMNS and len(a) == 61
    assert (a["timestamp"].diff().dropna() == 60).all() and a["timestamp"].iloc[0] == START
    assert ((a["high"] >= a[["open", "close"]].max(axis=1)) & (a["low"] <= a[["open", "close"]].min(axis=1))).all()
    m = SyntheticMarket(T0, T0 + DAY)
    three = m.candles("3m", T0, T0 + 3600)
    assert (three["timestamp"].diff().dropna() == 180).all()
    # a 3m candle aggregates its three 1m candles exactly
    one = m.candles("1m", T0, T0 + 120)
    assert three["high"].iloc[0] == one["high"].max() and three["close"].iloc[0] == one["close"].iloc[-1]


# ============================================================ hummingbot smoke + layout

def test_hummingbot_base_engine_runs_offline(market):
    out = run_base_engine(market, "pmm_simple", end=START + 6 * 3600)
    assert out["results"]["total_executors"] > 0
    assert len(out["pnl_timeseries"]) == 6 * 60 + 1
    assert {"executors", "results", "processed_data", "position_holds", "pnl_timeseries"} <= set(out)


@pytest.mark.parametrize("controller_type,name", ALL_CONTROLLERS)
def test_controllers_load_through_hummingbot_controllers_module(controller_type, name):
    cfg = BacktestingEngineBase.get_controller_config_instance_from_dict(
        {"id": "x", "controller_type": controller_type, "controller_name": name},
        controllers_module="svc_backtest.controllers")
    assert type(cfg).__module__ == f"svc_backtest.controllers.{controller_type}.{name}"
    assert cfg.controller_name == name
    assert cfg.get_controller_class().__module__ == type(cfg).__module__
    schema = engine.controller_config_schema(controller_type, name)
    json.dumps(schema)
    assert "id" not in schema.get("required", []) and "total_amount_quote" in schema["properties"]


def test_list_controllers():
    assert engine.list_controllers() == {
        "directional_trading": ["bollinger_v1", "dman_v3", "macd_bb_v1", "supertrend_v1"],
        "market_making": ["dman_maker_v2", "pmm_dynamic", "pmm_dynamic_2", "pmm_simple"]}


# ============================================================ every controller

@pytest.mark.parametrize("controller_type,name", ALL_CONTROLLERS)
def test_every_controller_runs(market, controller_type, name):
    result = run_default(market, name)
    assert_valid_result(result)
    assert result["meta"]["controller_type"] == controller_type
    assert result["meta"]["candles"] == DAY // 60 + 1  # warm-up buffer: no window row lost
    assert result["warnings"] == [f"no trading rule for {CONNECTOR} {PAIR}: used a permissive default"]
    features = result["processed_data"]
    assert len(features["timestamp"]) == result["meta"]["candles"]
    assert {"timestamp", "open", "high", "low", "close", "volume"} <= set(features)
    assert not any(col.endswith("_bt") for col in features)
    decision = "signal" if controller_type == "directional_trading" else "reference_price"
    if name != "pmm_simple":
        assert all(v is not None for v in features[decision])
    if name != "macd_bb_v1":  # macd_bb_v1 gives no signal on this market (see the zero-trade test)
        assert result["results"]["total_executors"] > 0


# ============================================================ regression scenarios

def test_scenario_pmm_dynamic_many_trades(market):
    result = engine.run_backtest(make_job("pmm_dynamic", buy_spreads=[0.5, 1], sell_spreads=[0.5, 1]), market.loader)
    assert_valid_result(result)
    res = result["results"]
    assert res["total_executors"] > 200
    assert res["total_positions"] >= 50
    assert res["total_volume"] > 0 and res["total_long"] > 0 and res["total_short"] > 0
    assert {"TAKE_PROFIT", "EARLY_STOP"} <= set(res["close_types"])


@pytest.mark.parametrize("name,unreachable", [
    ("dman_v3", {"dca_spreads": [0.2, 0.3]}),
    ("dman_maker_v2", {"buy_spreads": [0.2], "sell_spreads": [0.2]}),
])
def test_scenario_dman_without_positions_is_a_valid_zero_result(market, name, unreachable):
    result = engine.run_backtest(make_job(name, **unreachable), market.loader)
    assert_valid_result(result)
    res = result["results"]
    assert res["total_executors"] > 0  # executors were created...
    assert res["total_positions"] == 0  # ...but none ever filled
    assert res["net_pnl_quote"] == 0 and res["total_volume"] == 0 and res["sharpe_ratio"] == 0
    assert all(e["filled_amount_quote"] == 0 for e in result["executors"])


@pytest.mark.parametrize("name", ["dman_v3", "dman_maker_v2"])
def test_scenario_dman_fills_with_dca_fix(market, name):
    result = run_default(market, name)
    filled = [e for e in result["executors"] if e["filled_amount_quote"] > 0]
    assert result["results"]["total_positions"] > 0 and len(filled) > 0
    assert all(e["type"] == "dca_executor" for e in result["executors"])
    assert result["results"]["total_volume"] > 0
    assert any(e["close_type"] in ("TAKE_PROFIT", "TRAILING_STOP", "STOP_LOSS", "TIME_LIMIT") for e in filled)


def test_scenario_pmm_dynamic_2_few_positions_with_metrics(market):
    result = run_default(market, "pmm_dynamic_2")
    assert_valid_result(result)
    res = result["results"]
    assert 1 <= res["total_positions"] <= 50
    assert res["total_volume"] > 0
    assert res["win_signals"] + res["loss_signals"] == res["total_positions"]
    assert res["accuracy"] == pytest.approx(res["win_signals"] / res["total_positions"])
    assert res["sharpe_ratio"] != 0 and res["max_drawdown_pct"] <= 0


# ============================================================ edge inputs

def test_empty_candle_range_is_not_found(market):
    other_day = {f"{CONNECTOR}_{PAIR}_1m": market.candles("1m", T0 - DAY, T0 - 3600)}
    with pytest.raises(NotFound, match="no 1m candles"):
        engine.run_backtest(make_job("pmm_simple"), other_day)
    with pytest.raises(NotFound, match="no 1m candles"):
        engine.run_backtest(make_job("pmm_simple"), {f"{CONNECTOR}_{PAIR}_1m": pd.DataFrame()})
    with pytest.raises(NotFound, match=f"{CONNECTOR}_{PAIR}_3m"):
        engine.run_backtest(make_job("bollinger_v1"), {f"{CONNECTOR}_{PAIR}_1m": market.candles("1m")})


def test_window_shorter_than_indicator_warmup(market):
    job = make_job("bollinger_v1", end=START + 3600, bb_length=100)  # 20 3m candles, bands need 100
    feeds = engine.required_candles(job)
    three = next(f for f in feeds if f["interval"] == "3m")
    assert three["start"] == START - 200 * 180 and three["end"] == START + 3600
    result = engine.run_backtest(job, market.loader)  # buffer before the start: full window simulated
    assert_valid_result(result)
    assert result["meta"]["candles"] == 61 and all(v is not None for v in result["processed_data"]["bbp"])
    no_buffer = {f"{CONNECTOR}_{PAIR}_{iv}": market.candles(iv, START, START + 3600) for iv in ("1m", "3m")}
    with pytest.raises(BadRequest, match="warm-up"):
        engine.run_backtest(job, no_buffer)


def test_required_candles_feed_the_same_run_as_a_loader(market):
    job = make_job("bollinger_v1")
    feeds = {f["key"]: market.candles(f["interval"], f["start"], f["end"]) for f in engine.required_candles(job)}
    assert set(feeds) == {f"{CONNECTOR}_{PAIR}_1m", f"{CONNECTOR}_{PAIR}_3m"}
    from_dict = engine.run_backtest(job, feeds)
    assert from_dict["results"] == run_default(market, "bollinger_v1")["results"]


def test_unknown_controller_is_not_found(market):
    with pytest.raises(NotFound, match="unknown controller"):
        engine.run_backtest(make_job("no_such_controller"), market.loader)
    with pytest.raises(NotFound):
        engine.run_backtest({**make_job("pmm_simple"), "config": {**make_job("pmm_simple")["config"],
                                                                  "controller_type": "directional_trading"}},
                            market.loader)
    with pytest.raises(NotFound):
        engine.controller_config_schema("market_making", "../etc")


@pytest.mark.parametrize("name,bad,field", [
    ("pmm_simple", {"buy_spreads": "abc"}, "buy_spreads"),
    ("pmm_simple", {"sell_amounts_pct": [1, 2, 3]}, "sell_amounts_pct"),
    ("pmm_simple", {"no_such_field": 1}, "no_such_field"),
    ("pmm_simple", {"total_amount_quote": 0}, "total_amount_quote"),
    ("bollinger_v1", {"bb_length": -5}, "bb_length"),
    ("dman_maker_v2", {"dca_amounts": [1, 2]}, "dca_amounts"),
    ("dman_v3", {"trailing_stop": "0.01"}, "trailing_stop"),
    ("pmm_dynamic", {"interval": "7m"}, "interval"),
])
def test_bad_config_field_is_invalid_and_named(market, name, bad, field):
    with pytest.raises(Invalid) as info:
        engine.run_backtest(make_job(name, **bad), market.loader)
    assert field in info.value.msg and info.value.status == 422


def test_bad_job_fields_are_invalid(market):
    with pytest.raises(Invalid, match="end"):
        engine.run_backtest(make_job("pmm_simple", end=START - 60), market.loader)
    with pytest.raises(Invalid, match="backtesting_resolution"):
        engine.run_backtest({**make_job("pmm_simple"), "backtesting_resolution": "7m"}, market.loader)
    with pytest.raises(Invalid, match="trade_cost"):
        engine.run_backtest({**make_job("pmm_simple"), "trade_cost": -1}, market.loader)


def test_zero_trade_run_is_an_all_zero_result(market):
    result = run_default(market, "macd_bb_v1")
    assert_valid_result(result)
    res = result["results"]
    assert res["total_executors"] == 0 and result["executors"] == []
    assert res["close_types"] == {} and res["net_pnl_quote"] == 0 and res["sharpe_ratio"] == 0
    assert all(p["total_pnl"] == 0 for p in result["pnl_timeseries"])


def test_flat_market_directional_run_has_no_trades():
    feeds = {f"{CONNECTOR}_{PAIR}_1m": flat_candles(START - DAY, START + 6 * 3600)}
    feeds[f"{CONNECTOR}_{PAIR}_3m"] = feeds[f"{CONNECTOR}_{PAIR}_1m"].iloc[::3].reset_index(drop=True)
    result = engine.run_backtest(make_job("dman_v3", end=START + 6 * 3600), feeds)
    json.dumps(result, allow_nan=False)
    assert result["results"]["total_executors"] == 0


def test_summarize_executors_with_null_and_mixed_close_types():
    executors = [
        executor_dict(5.0, 100.0, close_type=3),                      # int enum
        executor_dict(-2.0, 100.0, close_type="STOP_LOSS", side="SELL", ts=(T0 + 60) * 1000),  # ms timestamps
        executor_dict(1.0, 100.0, close_type="CloseType.TIME_LIMIT", side="TradeType.BUY"),
        executor_dict(0.5, 100.0, close_type=None),                    # still active
    ]
    executors[0]["config"] = json.dumps(executors[0]["config"])        # JSON-string config, as stored in DBs
    out = engine.summarize_executors(executors)
    json.dumps(out, allow_nan=False)
    res = out["results"]
    assert res["total_executors"] == 4
    assert res["close_types"] == {"TAKE_PROFIT": 1, "STOP_LOSS": 1, "TIME_LIMIT": 1, "ACTIVE": 1}
    assert res["net_pnl_quote"] == pytest.approx(4.5)
    assert res["total_long"] == 3 and res["total_short"] == 1
    assert out["executors"][1]["timestamp"] == T0 + 60
    assert math.isfinite(res["sharpe_ratio"])


def test_summarize_executors_rejects_bad_input():
    with pytest.raises(Invalid, match=r"executors\[0\].close_type"):
        engine.summarize_executors([executor_dict(1.0, 100.0, close_type="EXPLODED")])
    with pytest.raises(Invalid, match=r"executors\[0\]"):
        engine.summarize_executors([executor_dict(1.0, 100.0, config={"type": "position_executor", "side": 1})])
    with pytest.raises(BadRequest):
        engine.summarize_executors({"not": "a list"})
    assert engine.summarize_executors([])["results"]["close_types"] == {}


def test_trading_rules_accept_dicts(market):
    rules = {CONNECTOR: {PAIR: {"min_order_size": "0.001", "min_price_increment": 0.01,
                                "min_base_amount_increment": "0.001", "min_notional_size": 5, "extra": "ignored"}}}
    result = engine.run_backtest(make_job("pmm_simple", end=START + 3600), market.loader, trading_rules=rules)
    assert result["warnings"] == []
    rule = engine.trading_rule_from_dict(rules[CONNECTOR][PAIR], PAIR)
    assert rule.min_price_increment == Decimal("0.01") and rule.min_notional_size == Decimal(5)
    with pytest.raises(Invalid, match="min_order_size"):
        engine.run_backtest(make_job("pmm_simple", end=START + 3600), market.loader,
                            trading_rules={CONNECTOR: {PAIR: {"min_order_size": "lots"}}})


# ============================================================ progress / cancel

def test_progress_is_reported_about_every_percent(market):
    calls = []
    result = engine.run_backtest(make_job("pmm_simple", end=START + 6 * 3600), market.loader,
                                 progress=lambda pct, n: calls.append((pct, n)))
    pcts = [c[0] for c in calls]
    assert 50 <= len(calls) <= 103
    assert pcts == sorted(pcts) and pcts[0] == 0 and pcts[-1] == 100
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)
    assert calls[-1][1] == result["results"]["total_executors"]


def test_cancel_stops_the_run(market):
    polls = []

    def cancel():
        polls.append(1)
        return len(polls) > 10

    progress = []
    with pytest.raises(Cancelled):
        engine.run_backtest(make_job("pmm_simple"), market.loader, progress=lambda p, n: progress.append(p),
                            cancel=cancel)
    assert len(polls) == 11 and max(progress) < 15


async def test_async_entry_point_inside_an_event_loop(market):
    result = await engine.run_backtest_async(make_job("bollinger_v1", end=START + 3600), market.loader)
    assert result["meta"]["candles"] == 61
    with pytest.raises(RuntimeError, match="run_backtest_async"):
        engine.run_backtest(make_job("bollinger_v1", end=START + 3600), market.loader)


# ============================================================ one test per patch

def test_patch_b2_sharpe_inf_in_fallback_branch():
    infos = [engine.executor_info_from_dict(executor_dict(1.0, 100.0, ts=T0 + i)) for i in range(2)]
    with np.errstate(all="ignore"):
        base = BacktestingEngineBase.summarize_results(infos)
    assert math.isinf(base["sharpe_ratio"])  # the bug: identical pnl/volume -> std 0 -> inf
    with pytest.raises(ValueError):
        json.dumps(base, allow_nan=False)
    fixed = patches.PatchedEngine.summarize_results(infos)
    assert fixed["sharpe_ratio"] == 0.0 and fixed["net_pnl_quote"] == pytest.approx(2.0)
    json.dumps(fixed, allow_nan=False)


def test_patch_b3_zero_total_and_non_finite_values():
    infos = [engine.executor_info_from_dict(executor_dict(p, 100.0, ts=T0 + i)) for i, p in enumerate((1.0, -3.0))]
    with pytest.raises(ZeroDivisionError):
        BacktestingEngineBase.summarize_results(infos, total_amount_quote=0)
    fixed = patches.PatchedEngine.summarize_results(infos, total_amount_quote=0)
    assert fixed["net_pnl"] is None and fixed["max_drawdown_pct"] is None
    assert fixed["net_pnl_quote"] == pytest.approx(-2.0)
    assert BacktestingEngineBase.summarize_results([])["close_types"] == 0
    assert patches.PatchedEngine.summarize_results([])["close_types"] == {}
    payload = {"a": float("inf"), "b": [np.float64("nan"), Decimal("1.5")], "c": TradeType.BUY, "d": np.int64(3)}
    with pytest.raises(ValueError):
        json.dumps({"a": float("inf")}, allow_nan=False)
    assert patches.json_safe(payload) == {"a": None, "b": [None, 1.5], "c": "BUY", "d": 3}


def _dca_case():
    closes = [100, 99.8, 99.5, 98.8, 98.6, 99.2, 99.9, 100.5, 101.2, 101.5, 101.4]
    ts = T0 + 60.0 * np.arange(len(closes))
    c = np.array(closes, dtype=float)
    df = pd.DataFrame({"timestamp": ts, "open": c, "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1.0},
                      index=pd.Index(ts, name="epoch_seconds"))
    config = DCAExecutorConfig(timestamp=ts[0], connector_name=CONNECTOR, trading_pair=PAIR, side=TradeType.BUY,
                               mode=DCAMode.MAKER, prices=[Decimal(99), Decimal(97)],
                               amounts_quote=[Decimal(100), Decimal(200)], take_profit=Decimal("0.02"),
                               stop_loss=Decimal("0.05"), time_limit=3600)
    return df, config


def test_patch_b5_dca_fills_from_each_levels_entry(market):
    df, config = _dca_case()  # level 1 (99) fills at 98.8, level 2 (97) is never reached, TP at 101.2
    base = DCAExecutorSimulator().simulate(df, config, 0.0002)
    assert base.executor_simulation["filled_amount_quote"].max() == 0  # the bug: a TP with no fill
    fixed = patches.FixedDCAExecutorSimulator().simulate(df, config, 0.0002)
    sim = fixed.executor_simulation
    assert fixed.close_type.name == "TAKE_PROFIT"
    assert sim["filled_amount_quote"].iloc[3] == 100 and sim["filled_amount_quote"].iloc[:3].max() == 0
    assert sim["net_pnl_quote"].iloc[-1] > 0 and sim.index[-1] == df.index[8]
    # engine level: dman_v3 with the stock simulator books no position at all
    stock = engine.Engine(market.loader)
    stock.dca_executor_simulator = DCAExecutorSimulator()
    cfg = engine.build_controller_config(make_job("dman_v3")["config"])
    stock.backtesting_data_provider.trading_rules[CONNECTOR] = {PAIR: engine.default_trading_rule(PAIR)}
    out = asyncio.run(stock.run_backtesting(cfg, START, END, "1m", 0.0002))
    assert out["results"]["total_executors"] > 0 and out["results"]["total_positions"] == 0
    assert run_default(market, "dman_v3")["results"]["total_positions"] > 0


@pytest.mark.parametrize("closes,close_type,filled", [
    ([100, 99.5, 98.9, 98.0, 97.5, 96.9, 95.0, 93.0, 92.0, 91.0], "STOP_LOSS", 300),  # both levels, then -5 %
    ([100, 99.5, 98.9, 98.0, 97.5, 96.9, 97.5, 98.0, 98.5, 98.6], "TIME_LIMIT", 300),  # both levels, no exit
    ([100, 100.5, 101, 101.5, 102, 102.5, 103, 103.5, 104, 104.5], "TIME_LIMIT", 0),   # never fills
])
def test_fixed_dca_simulator_exits(closes, close_type, filled):
    df, config = _dca_case()
    c = np.array(closes, dtype=float)
    df = df.iloc[:len(c)].assign(open=c, close=c, high=c * 1.001, low=c * 0.999)
    sim = patches.FixedDCAExecutorSimulator().simulate(df, config, 0.0002)
    frame = sim.executor_simulation
    assert sim.close_type.name == close_type
    assert frame["filled_amount_quote"].iloc[-1] == 2 * filled  # round trip booked on the closing row
    if filled:
        avg = 300 / (100 / 99 + 200 / 97)
        assert frame["current_position_average_price"].iloc[-1] == pytest.approx(avg)
        expected = (c[len(frame) - 1] / avg - 1) * 300 - 2 * 0.0002 * 300
        assert frame["net_pnl_quote"].iloc[-1] == pytest.approx(expected)


def test_directional_side_count_fix():
    from hummingbot.strategy_v2.controllers.directional_trading_controller_base import DirectionalTradingControllerBase
    cfg = engine.build_controller_config({"controller_name": "bollinger_v1", "max_executors_per_side": 1})
    provider = engine.OfflineDataProvider()
    provider.update_backtesting_time(START, END)
    controller = cfg.get_controller_class()(config=cfg, market_data_provider=provider, actions_queue=None)
    controller.executors_info = [engine.executor_info_from_dict(executor_dict(0.0, 100.0, close_type=None))]
    provider._time = START + 3600
    assert DirectionalTradingControllerBase.can_create_executor(controller, -1) is False  # a long blocks shorts
    assert controller.can_create_executor(-1) is True
    assert controller.can_create_executor(1) is False  # the long side is full


def test_patch_b5_last_level_without_stop_loss():
    df, config = _dca_case()
    config = config.model_copy(update={"stop_loss": None, "prices": [Decimal(99)], "amounts_quote": [Decimal(100)]})
    with pytest.raises(IndexError):
        DCAExecutorSimulator().simulate(df, config, 0.0002)
    assert patches.FixedDCAExecutorSimulator().simulate(df, config, 0.0002).close_type.name == "TAKE_PROFIT"


def test_patch_b6_sparse_feature_columns(market):
    with pytest.raises(IndexError):  # the bug: supertrend's NaN band columns drop every row
        run_base_engine(market, "supertrend_v1")
    result = run_default(market, "supertrend_v1")
    assert result["meta"]["candles"] == DAY // 60 + 1 and result["results"]["total_executors"] > 0
    assert None in result["processed_data"]["supertrend_long"]  # sparse column kept, not used to drop rows


def test_patch_b7_active_executor_in_summary():
    infos = [engine.executor_info_from_dict(executor_dict(1.0, 100.0)),
             engine.executor_info_from_dict(executor_dict(0.3, 100.0, close_type=None, ts=T0 + 5))]
    with pytest.raises(AttributeError):
        BacktestingEngineBase.summarize_results(infos)
    fixed = patches.PatchedEngine.summarize_results(infos)
    assert fixed["close_types"] == {"TAKE_PROFIT": 1, "ACTIVE": 1} and fixed["total_executors"] == 2


def test_patch_warmup_buffer_kept(market):
    base = run_base_engine(market, "bollinger_v1")
    lost = DAY // 60 + 1 - len(base["pnl_timeseries"])
    assert lost >= 99 * 3 - 3  # the bug: the first bb_length 3m candles of the window are warm-up, not trading
    patched = run_default(market, "bollinger_v1")
    assert len(patched["pnl_timeseries"]) == DAY // 60 + 1
    provider = patches.WarmupDataProvider(connectors={})
    stock = BacktestingDataProvider(connectors={})
    for p in (provider, stock):
        p.update_backtesting_time(START, END)
        p.candles_feeds[f"{CONNECTOR}_{PAIR}_3m"] = market.candles("3m", START - DAY, END)
    assert len(stock.get_candles_df(CONNECTOR, PAIR, "3m", 200)) == DAY // 180 + 1
    assert len(provider.get_candles_df(CONNECTOR, PAIR, "3m", 200)) == DAY // 180 + 1 + 200


def test_patch_position_hold_lag_spot_rebalance(market):
    base = run_base_engine(market, "pmm_simple", end=START + 6 * 3600, connector="binance")
    churn = base["results"]["close_types"]["POSITION_HOLD"]
    assert churn > 50  # the bug: a rebalance market order nearly every other tick
    job = make_job("pmm_simple", end=START + 6 * 3600, connector_name="binance")
    result = engine.run_backtest(job, {f"binance_{PAIR}_1m": market.candles("1m", START, START + 6 * 3600)})
    assert_valid_result(result)
    assert result["results"]["close_types"]["POSITION_HOLD"] == 1  # one order buys the base the sells need
    hold = result["position_holds"][0]
    assert hold["buy_amount_quote"] == pytest.approx(500) and hold["sell_amount_quote"] == 0
    assert hold["unrealized_pnl_quote"] is not None and hold["side"] == "BUY"


def test_patches_apply_is_idempotent():
    assert patches.apply() is False  # already applied at import
    assert patches.apply() is False
