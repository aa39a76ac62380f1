"""batch_by_unit: small units share a mapped task, big ones get their own, the count stays bounded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from halfsky.ingest.batches import (DROP_OVERHEAD_BYTES, MAX_BATCHES, MIN_BATCH_BYTES, UNKNOWN_UNITS, batch_by_unit,
                                    batch_count, worker_slots)

MB = 1 << 20


def _units(codes):
    return {c: SimpleNamespace(name_zh=f"市{c}") for c in codes}


def _drops(codes, per_unit=3, period="2026-10"):
    forms = ("activity.xlsx", "funds.json", "beneficiaries")
    return [f"{c}/{period}/{forms[i % 3]}" for c in codes for i in range(per_unit)]


def _units_of(batch):
    return [p.split("/")[0] for p in batch["paths"]]


def test_a_night_of_small_prefectures_is_one_task_not_one_each():
    codes = [str(150100 + 100 * i) for i in range(19)]
    paths = _drops(codes)
    batches = batch_by_unit(paths, _units(codes), sizes={p: 40_000 for p in paths}, slots=4)
    assert len(batches) == 1
    assert batches[0]["label"] == f"150100 市150100 … {codes[-1]} 市{codes[-1]} (19 units)"
    assert sorted(batches[0]["paths"]) == sorted(paths)


def test_one_unit_alone_is_labelled_by_its_code_for_the_grid_to_name_it():
    batches = batch_by_unit(_drops(["654000"]), _units(["654000"]), sizes=lambda p: 5 * MB, slots=4)
    assert [b["label"] for b in batches] == ["654000"]


def test_a_big_unit_gets_its_own_task_first_and_the_small_ones_share():
    small = [str(130100 + 100 * i) for i in range(40)]
    paths = _drops(small + ["440300"])
    sizes = {p: (400 * MB if p.startswith("440300/") else 500_000) for p in paths}
    batches = batch_by_unit(paths, _units(small + ["440300"]), sizes=sizes, slots=4)
    assert batches[0]["label"] == "440300" and set(_units_of(batches[0])) == {"440300"}
    assert all("440300" not in _units_of(b) for b in batches[1:])
    assert sorted(p for b in batches for p in b["paths"]) == sorted(paths)
    assert len(batches) % 4 == 0, "a multiple of the worker slots, so the last round fills every slot"


def test_a_national_month_end_makes_a_multiple_of_the_slots_of_even_batches_of_whole_units():
    codes = [str(110100 + 100 * i) for i in range(320)]
    paths = _drops(codes, per_unit=1)
    batches = batch_by_unit(paths, _units(codes), sizes={p: MB for p in paths}, slots=4)
    weight = 320 * (MB + DROP_OVERHEAD_BYTES)
    assert len(batches) == batch_count(weight, 4) == 20 and weight / 20 >= MIN_BATCH_BYTES * 0.8
    assert {len(b["paths"]) for b in batches} == {16}
    seen = [u for b in batches for u in _units_of(b)]
    assert sorted(seen) == codes, "every unit in exactly one batch"
    for b in batches:  # whole units, a run of consecutive codes, named by its first and last
        units = _units_of(b)
        assert units == sorted(units) and codes[codes.index(units[0]):codes.index(units[-1]) + 1] == units
        assert b["label"].startswith(f"{units[0]} 市{units[0]} … {units[-1]} ") and len(b["label"]) < 60
    assert len(batch_by_unit(paths, _units(codes), sizes={p: MB for p in paths}, slots=3)) % 3 == 0


def test_a_unit_is_never_split_even_when_it_has_many_drops():
    paths = _drops(["150100"], per_unit=400) + _drops(["150200"], per_unit=2)
    batches = batch_by_unit(paths, {"150100", "150200"}, sizes={p: MB for p in paths}, slots=4)
    assert batches[0]["label"] == "150100" and len(batches[0]["paths"]) == 400


def test_unknown_folders_are_one_batch_of_their_own_last():
    known = [str(150100 + 100 * i) for i in range(5)]
    unknown = [f"{800000 + i}/2026-10/x.json" for i in range(1100)] + ["notes/2026-10/readme.txt"]
    batches = batch_by_unit(_drops(known) + unknown, set(known), slots=4)
    assert batches[-1] == {"label": UNKNOWN_UNITS, "paths": unknown}
    assert all(UNKNOWN_UNITS not in b["label"] for b in batches[:-1])
    assert batch_by_unit(unknown, set(known)) == [{"label": UNKNOWN_UNITS, "paths": unknown}]
    assert batch_by_unit([], set(known)) == []


@pytest.mark.parametrize("size", [0, MB, 100 * MB, 10_000 * MB])
def test_the_count_stays_bounded_whatever_the_landing_tree_holds(size):
    codes = [str(100000 + i) for i in range(3000)]
    paths = _drops(codes, per_unit=1)
    batches = batch_by_unit(paths + ["999999/2026-10/x.json"], set(codes), sizes={p: size for p in paths}, slots=4)
    assert len(batches) <= MAX_BATCHES < 1024
    assert sorted(p for b in batches[:-1] for p in b["paths"]) == sorted(paths)


def test_sizes_that_cannot_be_read_only_weigh_a_drop_as_empty():
    def size_of(path):
        raise FileNotFoundError(path)  # the drop left the landing zone since it was listed

    codes = ["150100", "150200"]
    assert batch_by_unit(_drops(codes), set(codes), sizes=size_of, slots=4) == \
        batch_by_unit(_drops(codes), set(codes), slots=4)


def test_the_slots_are_halfsky_ingest_slots_not_the_parallelism(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "16")
    monkeypatch.delenv("HALFSKY_INGEST_SLOTS", raising=False)
    assert worker_slots() == 4
    monkeypatch.setenv("HALFSKY_INGEST_SLOTS", "6")
    assert worker_slots() == 6
    monkeypatch.setenv("HALFSKY_INGEST_SLOTS", "many")
    assert worker_slots() == 4
    assert batch_count(0, 4) == 1 and batch_count(3 * MIN_BATCH_BYTES, 4) == 3
    assert batch_count(5 * MIN_BATCH_BYTES, 4) == 8 and batch_count(10**15, 4) == 252
