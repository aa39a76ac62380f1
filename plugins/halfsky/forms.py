"""The three report forms of the contract, as data: field names, Chinese names, types, rules.

Parsing, validation, loading, the sample generator and the reports all read
these definitions, so a change to the contract is a change here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Field kinds: how a cell is parsed and what type it lands as in raw.
REGION, CODE, COUNT, MONEY, DATE, TEXT, ID_NUMBER = "region", "code", "count", "money", "date", "text", "id_number"

PG_TYPES = {
    REGION: "char(6)",
    CODE: "text",
    COUNT: "bigint",
    MONEY: "numeric(18,2)",
    DATE: "date",
    TEXT: "text",
    ID_NUMBER: "char(18)",
}


@dataclass(frozen=True)
class Field:
    name: str
    zh: str
    kind: str
    required: bool
    code_list: str | None = None  # seed file in codes/ whose first column holds the codes
    default: int | None = None  # value of an empty optional count
    max_length: int | None = None
    minimum: int | None = None  # inclusive lower bound, counts and money
    exclusive_minimum: bool = False  # money > 0 rather than >= 0


@dataclass(frozen=True)
class Form:
    name: str
    zh: str
    fields: tuple[Field, ...]
    unique_key: tuple[str, ...] = ()

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def sheet_names(self) -> tuple[str, str]:
        return (self.name, self.zh)


_region = Field("region_code", "区县代码", REGION, True)
_program = Field("program_code", "项目代码", CODE, True, code_list="programs")
_group = Field("beneficiary_group_code", "受益群体", CODE, True, code_list="beneficiary_groups")

ACTIVITY = Form(
    "activity",
    "项目活动",
    (
        _region,
        _program,
        _group,
        Field("events", "活动场次", COUNT, False, default=0, minimum=0),
        Field("beneficiaries", "受益人次", COUNT, True, minimum=0),
        Field("volunteers", "志愿者人次", COUNT, False, default=0, minimum=0),
        Field("remarks", "备注", TEXT, False, max_length=500),
    ),
    unique_key=("region_code", "program_code", "beneficiary_group_code"),
)

FUNDS = Form(
    "funds",
    "资金收支",
    (
        _region,
        _program,
        Field("fund_source_code", "资金来源", CODE, True, code_list="fund_sources"),
        Field("flow_type", "收支类型", CODE, True, code_list="flow_types"),
        Field("amount_yuan", "金额(元)", MONEY, True, minimum=0, exclusive_minimum=True),
        Field("txn_date", "日期", DATE, True),
        Field("voucher_no", "凭证号", TEXT, True, max_length=100),
        Field("counterparty", "对方单位", TEXT, False, max_length=200),
    ),
    unique_key=("voucher_no",),  # unique within prefecture and period, i.e. within the drop
)

BENEFICIARIES = Form(
    "beneficiaries",
    "受益人明细",
    (
        _region,
        _program,
        _group,
        Field("id_number", "身份证号", ID_NUMBER, True),
        Field("name", "姓名", TEXT, True, max_length=100),
        Field("benefit_date", "受益日期", DATE, True),
        Field("benefit_type", "受益形式", CODE, True, code_list="benefit_types"),
        Field("amount_yuan", "金额(元)", MONEY, False, minimum=0),  # required when CASH
    ),
)

FORMS: dict[str, Form] = {f.name: f for f in (ACTIVITY, FUNDS, BENEFICIARIES)}
