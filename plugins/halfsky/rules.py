"""Every reason a drop is rejected or warned about, with the words shown to prefecture staff.

Rule ids are stable: they appear in the submission log, the quarantine reports,
the tests and the sample generator's truth file.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    zh: str
    en: str


_RULES = (
    # Whole-file problems: the drop cannot be judged row by row.
    Rule("unreadable", ERROR, "文件无法读取或已损坏", "The file cannot be read or is damaged"),
    Rule("undecodable", ERROR, "文件编码无法识别（请使用 UTF-8 或 GB18030）", "The file's text encoding is not UTF-8 or GB18030"),
    Rule("unknown_format", ERROR, "不支持的文件格式（请提交 xlsx、json 或 csv 文件夹）", "Not a supported format (send .xlsx, .json or a folder of .csv)"),
    Rule("too_large", ERROR, "文件超过大小上限", "The drop is over the size limit"),
    Rule("expands_too_large", ERROR, "压缩文件解压后超过大小上限", "The drop expands past the size limit when unpacked"),
    Rule("unknown_prefecture", ERROR, "路径中的地市代码不是已登记的报送单位", "The prefecture code in the path is not a known reporting unit"),
    Rule("inactive_prefecture", ERROR, "该单位在此月份无需报送", "This reporting unit is not expected to report for this month"),
    Rule("malformed_period", ERROR, "报送期格式错误（应为 YYYY-MM）", "The period is not a valid YYYY-MM month"),
    Rule("future_period", ERROR, "报送期在未来", "The period is in the future"),
    Rule("header_mismatch", ERROR, "文件内的地市代码或报送期与路径不一致", "The prefecture or period inside the file differs from its path"),
    Rule("no_forms", ERROR, "未找到任何报表（项目活动、资金收支、受益人明细）", "No form found (activity, funds, beneficiaries)"),
    Rule("missing_column", ERROR, "缺少必填列", "A required column is missing"),
    # Row rules, from the form tables of the contract.
    Rule("required", ERROR, "必填项为空", "A required value is empty"),
    Rule("type", ERROR, "数值格式错误", "The value is not of the field's type"),
    Rule("min_value", ERROR, "数值低于允许的最小值", "The value is below the allowed minimum"),
    Rule("max_length", ERROR, "文字超过长度上限", "The text is longer than allowed"),
    Rule("code_list", ERROR, "代码不在代码表中", "The code is not in the code list"),
    Rule("region_outside_prefecture", ERROR, "区县代码不属于报送地市", "The region is not the prefecture or one of its counties"),
    Rule("date_outside_period", ERROR, "日期不在报送期内", "The date is outside the reporting period"),
    Rule("duplicate_key", ERROR, "同一区县、项目、受益群体重复填报", "Region, program and group repeat within the drop"),
    Rule("duplicate_voucher", ERROR, "凭证号在本期重复", "The voucher number repeats within the prefecture and period"),
    Rule("id_number_check", ERROR, "身份证号校验位错误或格式错误", "The id number is malformed or its check digit is wrong"),
    Rule("cash_amount_required", ERROR, "现金受益必须填写金额", "A cash benefit needs an amount"),
    # Accepted with a warning.
    Rule("late_drop", WARNING, "逾期报送（截止日期为次月10日）", "Sent after the deadline (the 10th of the next month)"),
    Rule("duplicate_cash_benefit", WARNING, "同一人本期重复领取同一现金救助", "One person received the same cash benefit twice this period"),
    Rule("unknown_column", WARNING, "无法识别的列，已忽略", "A column is not one of the form's fields and was ignored"),
)

RULES: dict[str, Rule] = {r.id: r for r in _RULES}


@dataclass(frozen=True)
class Finding:
    """One failing (or warned) cell or row of a drop, or the drop as a whole."""

    rule: str
    form: str | None = None
    row_number: int | None = None  # as the sender sees it: spreadsheet row, or position in a JSON list
    field: str | None = None
    value: str | None = None
    detail: str | None = None

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity
