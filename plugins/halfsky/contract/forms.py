"""The report forms of the contract, as data: field names, Chinese names, types, units, rules.

Three monthly forms (activity, funds, beneficiaries) and, since contract v2,
annual ones (targets, population, sites; since v3 grassroots).

Parsing, validation, loading, the sample generator and the reports all read
these definitions, so a change to the contract is a change here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Field kinds: how a cell is parsed and what type it lands as in raw.
REGION, CODE, COUNT, MONEY, DATE, TEXT, ID_NUMBER = "region", "code", "count", "money", "date", "text", "id_number"
FLAG = "flag"  # yes/no: 是/否, true/false, 1/0
MEASURE = "measure"  # a number in a unit given by another cell (a target: yuan, person-times, parcels…)

# The kind of period a form belongs to: a drop under <YYYY-MM> holds monthly forms, under <YYYY> annual ones.
MONTH, YEAR = "month", "year"

# A count field whose unit depends on the row: the program's quantity_unit, the indicator's unit,
# the population group's unit. Checked against reference data after typing (halfsky.ingest.judging.unit_rules).
UNIT_OF_PROGRAM, UNIT_OF_INDICATOR, UNIT_OF_POPULATION_GROUP = "program", "indicator", "population_group"

PG_TYPES = {
    REGION: "char(6)",
    CODE: "text",
    COUNT: "bigint",
    MONEY: "numeric(18,2)",
    DATE: "date",
    TEXT: "text",
    ID_NUMBER: "char(18)",
    FLAG: "boolean",
    MEASURE: "numeric(20,2)",
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
    unit: str | None = None  # what a count counts (人次, 场…), or UNIT_OF_* when the row says


@dataclass(frozen=True)
class Form:
    name: str
    zh: str
    fields: tuple[Field, ...]
    unique_key: tuple[str, ...] = ()
    period_kind: str = MONTH

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
        Field("events", "活动场次", COUNT, False, default=0, minimum=0, unit="场"),
        Field("beneficiaries", "受益人次", COUNT, True, minimum=0, unit="人次"),
        Field("volunteers", "志愿者人次", COUNT, False, default=0, minimum=0, unit="人次"),
        Field("quantity", "数量", COUNT, False, minimum=0, unit=UNIT_OF_PROGRAM),
        # Contract v3: distinct persons reached since 1 January (本年累计), a running count never summed over
        # months; empty is unknown, not 0.
        Field("persons_ytd", "本年累计受益人数", COUNT, False, minimum=0, unit="人"),
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
        Field("recipient_region_code", "拨付对象区划", REGION, False),
        Field("in_kind", "实物折价", FLAG, False, default=False),
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

TARGETS = Form(
    "targets",
    "年度任务",
    (
        _region,
        _program,
        Field("indicator_code", "指标代码", CODE, True, code_list="indicators"),
        Field("target_value", "目标值", MEASURE, True, minimum=0, unit=UNIT_OF_INDICATOR),
        Field("remarks", "备注", TEXT, False, max_length=500),
    ),
    unique_key=("region_code", "program_code", "indicator_code"),
    period_kind=YEAR,
)

POPULATION = Form(
    "population",
    "人口基数",
    (
        _region,
        Field("population_group_code", "人群代码", CODE, True, code_list="population_groups"),
        Field("population", "人数", COUNT, True, minimum=0, unit=UNIT_OF_POPULATION_GROUP),
        Field("source", "数据来源", TEXT, False, max_length=200),
    ),
    unique_key=("region_code", "population_group_code"),
    period_kind=YEAR,
)

SITES = Form(
    "sites",
    "阵地组织",
    (
        _region,
        Field("site_type_code", "阵地类型", CODE, True, code_list="site_types"),
        Field("total", "年末数", COUNT, True, minimum=0, unit="个"),
        Field("new_this_year", "本年新建", COUNT, False, default=0, minimum=0, unit="个"),
        Field("people", "人员数", COUNT, False, minimum=0, unit="人"),
    ),
    unique_key=("region_code", "site_type_code"),
    period_kind=YEAR,
)

# Contract v3: how far the federation reaches into townships and villages, one row per county-level region.
# Each count is bounded by its total (exceeds_total); an empty optional count is unknown, not zero (no default).
_COUNT_OF_PLACES = dict(kind=COUNT, minimum=0, unit="个")
GRASSROOTS = Form(
    "grassroots",
    "基层组织覆盖",
    (
        _region,
        Field("townships", "乡镇(街道)数", required=True, **_COUNT_OF_PLACES),
        Field("townships_with_federation", "已建妇联的乡镇(街道)数", required=True, **_COUNT_OF_PLACES),
        Field("villages", "村(社区/嘎查)数", required=True, **_COUNT_OF_PLACES),
        Field("villages_with_federation", "已建妇联的村(社区)数", required=True, **_COUNT_OF_PLACES),
        Field("villages_with_womens_home", "建有妇女之家的村(社区)数", required=False, **_COUNT_OF_PLACES),
        Field("committees_with_women", '"两委"有女性成员的村(社区)数', required=False, **_COUNT_OF_PLACES),
        Field("chairs_in_committee", '妇联主席进"两委"的村(社区)数', required=False, **_COUNT_OF_PLACES),
    ),
    unique_key=("region_code",),
    period_kind=YEAR,
)

# Each count of GRASSROOTS and the total it may not exceed: what expectations/grassroots.json checks as exceeds_total
# (tests/test_grassroots.py holds the two to the same pairs) and what the generator and rpt_org_coverage divide by.
GRASSROOTS_TOTALS = {
    "townships_with_federation": "townships",
    "villages_with_federation": "villages",
    "villages_with_womens_home": "villages",
    "committees_with_women": "villages",
    "chairs_in_committee": "villages",
}

# The two sheets of halfsky's workbook template (halfsky.portal.workbook_template) that hold notes, not a form: the
# reader skips them without an unknown_sheet warning, so a filled template is judged on its forms alone.
TEMPLATE_NOTE_SHEETS = ("说明 read me", "代码表 codes")

FORMS: dict[str, Form] = {f.name: f for f in (ACTIVITY, FUNDS, BENEFICIARIES, TARGETS, POPULATION, SITES, GRASSROOTS)}
MONTHLY_FORMS = tuple(name for name, f in FORMS.items() if f.period_kind == MONTH)
ANNUAL_FORMS = tuple(name for name, f in FORMS.items() if f.period_kind == YEAR)
