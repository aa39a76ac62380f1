"""Every reason a drop is rejected or warned about, with the words shown to prefecture staff.

Rule ids are stable: they appear in the submission log, the quarantine reports,
the tests and the sample generator's truth file.
"""

from __future__ import annotations

from dataclasses import dataclass

from halfsky.contract.untrusted_text import storable_text

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
    Rule("malformed_period", ERROR, "报送期格式错误（月报为 YYYY-MM，年报为 YYYY）",
         "The period is not a valid YYYY-MM month (monthly forms) or YYYY year (annual forms)"),
    Rule("future_period", ERROR, "报送期在未来", "The period is in the future"),
    Rule("period_closed", ERROR, "该报送期已由省妇联审核通过并关闭，不再接收新的报送；如需更正，请联系审核人申请重新开放",
         "The province has approved and closed this period, so no new drop is taken for it: to correct it, ask the "
         "reviewer named below to reopen it"),
    Rule("header_mismatch", ERROR, "文件内的地市代码或报送期与路径不一致", "The prefecture or period inside the file differs from its path"),
    Rule("no_forms", ERROR, "未找到任何报表（月报：项目活动、资金收支、受益人明细；年报：年度任务、人口基数、阵地组织、基层组织覆盖）",
         "No form found (monthly: activity, funds, beneficiaries; annual: targets, population, sites, grassroots)"),
    Rule("wrong_period_kind", ERROR, "报表与报送期类型不符（年报表须放在 YYYY 文件夹，月报表须放在 YYYY-MM 文件夹）",
         "A form of the other kind of period: annual forms go under a YYYY folder, monthly forms under YYYY-MM"),
    Rule("missing_column", ERROR, "缺少必填列", "A required column is missing"),
    Rule("not_a_regular_file", ERROR, "不是普通文件（链接、设备或管道），未读取",
         "Not a regular file (a link, device or pipe): it was not read"),
    Rule("unsafe_name", ERROR, "文件或文件夹名含有无法识别的字节或控制字符，请重命名后重新报送",
         "The file or folder name has bytes that are not UTF-8 text, or control characters: rename it and send again"),
    Rule("xml_entity_expansion", ERROR, "工作簿含有 XML 实体声明（DTD），xlsx 文件不需要，可能是恶意文件",
         "The workbook declares XML entities (a DTD), which xlsx files never need; it may be hostile"),
    Rule("xml_external_entity", ERROR, "工作簿引用外部 XML 实体（可读取服务器文件），可能是恶意文件",
         "The workbook refers to external XML entities (which would read files on the server); it may be hostile"),
    Rule("zip_size_mismatch", ERROR, "工作簿内部件的实际大小或校验值与声明不符（文件损坏或被篡改）",
         "A part of the workbook does not match its declared size or checksum (damaged or tampered with)"),
    Rule("cell_too_large", ERROR, "单元格内容过长（超过 128 KiB）", "A cell is longer than 128 KiB"),
    Rule("json_too_deep", ERROR, "JSON 嵌套层数过多", "The JSON is nested too deeply"),
    Rule("json_duplicate_key", ERROR, "JSON 对象中同一键出现两次，无法确定以哪个为准",
         "A key appears twice in one JSON object: which value counts cannot be told"),
    Rule("too_many_columns", ERROR, "表格列数过多（每张报表最多 1,000 列）", "A form has too many columns (at most 1,000)"),
    Rule("invalid_unicode", ERROR, "文本含有无效的 Unicode 字符（孤立代理项）", "Text holds invalid Unicode (a lone surrogate)"),
    Rule("nul_byte", ERROR, "文本含有空字符（NUL，0x00）", "Text holds a NUL character (0x00)"),
    Rule("duplicate_form", ERROR, "同一报表出现两次（如 activity 与 项目活动 并存），无法确定以哪个为准",
         "One form appears twice (e.g. both activity and 项目活动): which one counts cannot be told"),
    Rule("unknown_form", ERROR, "含有无法识别的报表（文件名或键名不是报表名称）",
         "A form is not one of the contract's (its file name or key is no form name)"),
    # A workbook read otherwise than the sender sees it in Excel or WPS.
    Rule("hidden_sheet", ERROR, "报表所在的工作表被隐藏，报送人看不到将被读取的数据：请取消隐藏并核对，或删除该表",
         "A form's sheet is hidden, so the sender cannot see what would be loaded: unhide and check it, or delete it"),
    Rule("merged_cells", ERROR, "报表区域内有合并单元格（只有左上角单元格有值）：请取消合并，并在每一行填写数值",
         "Merged cells inside a form (only the top-left cell holds a value): unmerge them and fill every row"),
    Rule("hidden_cells", ERROR, "报表区域内有隐藏的行或列：其中的数据看不到，却会被读取，请取消隐藏并核对",
         "Hidden rows or columns inside a form: what they hold would be loaded unseen; unhide and check them"),
    Rule("formula_not_computed", ERROR, "公式没有计算结果（生成文件的程序不计算公式）：请用 Excel 或 WPS 打开并保存工作簿后重新报送",
         "A formula has no computed value (the program that wrote the workbook does not calculate): "
         "open and save the workbook in Excel or WPS, then send it again"),
    Rule("empty_form", ERROR, "报表文件或工作表是空的，没有表头行（本期如无此报表，请删除该文件或工作表）",
         "A form's file or sheet is empty, without even a header row (remove it if the form has nothing this period)"),
    Rule("misnamed_form", ERROR, "工作表或文件名与某报表名称相近但不相同，无法确定是否为该报表（请改为报表名称，或删除）",
         "A sheet or file is named almost like a form, so whether it is that form cannot be told: rename it to the "
         "form's name, or remove it"),
    Rule("internal_error", ERROR, "系统处理该文件时出错，已通知管理员；请勿重复报送，管理员修复后将重新处理",
         "halfsky failed while judging this drop; admins are told, and will replay it after a fix: no need to resend"),
    # Row rules, from the form tables of the contract.
    Rule("required", ERROR, "必填项为空", "A required value is empty"),
    Rule("type", ERROR, "数值格式错误", "The value is not of the field's type"),
    Rule("out_of_range", ERROR, "数值超出可存储的范围", "The number is too large to be stored"),
    Rule("min_value", ERROR, "数值低于允许的最小值", "The value is below the allowed minimum"),
    Rule("max_length", ERROR, "文字超过长度上限", "The text is longer than allowed"),
    Rule("code_list", ERROR, "代码不在代码表中", "The code is not in the code list"),
    Rule("region_outside_prefecture", ERROR, "区县代码不属于报送地市", "The region is not the prefecture or one of its counties"),
    Rule("date_outside_period", ERROR, "日期不在报送期内", "The date is outside the reporting period"),
    Rule("duplicate_key", ERROR, "同一行关键字段重复填报（如同一区县、项目、受益群体）",
         "A row's key repeats within the drop (e.g. the same region, program and group)"),
    Rule("duplicate_voucher", ERROR, "凭证号在本期重复", "The voucher number repeats within the prefecture and period"),
    Rule("id_number_check", ERROR, "身份证号校验位错误或格式错误", "The id number is malformed or its check digit is wrong"),
    Rule("cash_amount_required", ERROR, "现金受益必须填写金额", "A cash benefit needs an amount"),
    Rule("unit_mismatch", ERROR, "填写的单位与该栏目的计量单位不符（如受益人次栏填“户”）",
         "The unit written in the cell or header is not the field's unit (e.g. 户 households in person-times)"),
    Rule("quantity_without_unit", ERROR, "该项目没有实物数量计量单位，数量栏应为空",
         "This program has no quantity unit: leave quantity empty"),
    Rule("new_exceeds_total", ERROR, "本年新建数大于年末数", "New this year is more than the year-end total"),
    Rule("exceeds_total", ERROR, "数量大于其总数（如已建妇联的村(社区)数大于村(社区)数）",
         "A count is more than its total (e.g. villages with a federation above the number of villages)"),
    Rule("not_a_county", ERROR, "基层组织覆盖表每行须为一个县级区划（区、县、旗、县级市等），不能填地市或省",
         "A grassroots row must be a county-level region (district, county, banner, county-level city…), not a prefecture or province"),
    Rule("opening_balance_outside_january", ERROR, "年初结余只能在当年1月（YYYY-01）的报表中填报",
         "An opening balance (OPENING_BALANCE) may only be sent in the drop for January (YYYY-01)"),
    Rule("opening_balance_date", ERROR, "年初结余的日期应为当年1月1日", "An opening balance is dated 1 January of its year"),
    Rule("unknown_region", ERROR, "拨付对象区划代码不是现行行政区划", "The recipient region is not a current administrative division"),
    # Accepted with a warning.
    Rule("late_drop", WARNING, "逾期报送（截止日期为次月10日）", "Sent after the deadline (the 10th of the next month)"),
    Rule("duplicate_cash_benefit", WARNING, "同一人本期重复领取同一现金救助", "One person received the same cash benefit twice this period"),
    Rule("ineligible_beneficiary", WARNING, "受益人性别或年龄不符合该项目的对象条件（已入库，请核实）",
         "The person's gender or age (from the id number) is outside the program's eligibility: loaded, please check"),
    Rule("cash_over_cap", WARNING, "同一人本年度从该项目领取的现金超过每人每年上限（含其他地市已报数据）",
         "One person's cash from this program this year exceeds its yearly cap per person (all prefectures counted)"),
    Rule("cash_exceeds_spending", WARNING, "本次发放到人的现金超过该项目本年累计支出",
         "Cash paid to persons for this program exceeds the program's spending in the year to date"),
    Rule("persons_exceed_person_times", WARNING, "受益人明细中的人数多于项目活动表中该区县该项目的受益人次",
         "More distinct persons in the line list than person-times in the activity form for this county and program"),
    Rule("ytd_decreased", WARNING, "本年累计受益人数低于本年此前月份报送的数值（累计数不应减少），请核实",
         "Persons reached this year (persons_ytd) is lower than an earlier month of the year reported: a running count never falls"),
    Rule("persons_exceed_person_times_ytd", WARNING, "本年累计受益人数多于1月至本月累计受益人次，请核实",
         "Persons reached this year (persons_ytd) exceed the person-times reported from January to this month"),
    Rule("min_max_outlier", WARNING,
         "数值明显偏离本单位前12个月的历史数据（修正Z分数，以中位数和中位数绝对偏差计，绝对值大于3.5），请核实",
         "The value is far from this unit's own last 12 months (modified z-score, from the median and the median "
         "absolute deviation, beyond 3.5): please check"),
    Rule("spending_over_incoming", WARNING, "该项目本年累计支出超过累计到位资金",
         "Spending on this program in the year to date exceeds the money that came in"),
    Rule("unknown_column", WARNING, "无法识别的列，已忽略", "A column is not one of the form's fields and was ignored"),
    Rule("unknown_sheet", WARNING, "无法识别的工作表，已忽略（如为报表，请使用报表名称）",
         "A sheet is not one of the forms and was ignored (name it after its form if it is one)"),
    Rule("unknown_file", WARNING, "文件夹中的非报表文件，已忽略", "A file in the drop folder is not a form and was ignored"),
    Rule("system_file", WARNING, "文件夹中操作系统或办公软件自动生成的隐藏文件（如 ._*、~$*、.DS_Store），已忽略",
         "A hidden file the operating system or office software made in the drop folder (._*, ~$*, .DS_Store…), ignored"),
    Rule("form_dropped_by_correction", WARNING, "本次更正缺少该期原已接收报送中的报表，原报表的数据已从数据仓库移除（如资金收支），请核实",
         "This correction lacks a form the period's accepted drop had: that form's rows (its money, for funds) have "
         "left the warehouse; please check"),
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

    def __post_init__(self) -> None:
        # Cells are untrusted: a NUL or lone surrogate would break the report file and the findings table.
        for name in ("field", "value", "detail"):
            text = getattr(self, name)
            if isinstance(text, str):
                object.__setattr__(self, name, storable_text(text))

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity
