"""Realistic program parameters, drawn from the seed documents (../shared/seeds).

Figures quoted there: two-cancer relief of 10,000 yuan per patient (1,778万元
for low-income women in Inner Mongolia; 73 patients, 73万元 in one city);
1,470.17万元 raised in 276 batches; Spring Bud and Mother Parcel campaigns;
1.2万 Beautiful Homes households; Women's Homes (妇女之家) and e-commerce bases.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProgramProfile:
    code: str
    groups: tuple[str, ...]
    benefit_type: str  # what a person receives
    benefit_yuan: tuple[int, int] | None  # cash or goods value per person, yuan (None: no money)
    fund_yuan: tuple[int, int]  # size of one movement of money, yuan
    people_per_event: tuple[int, int]


PROGRAMS = (
    ProgramProfile("TWO_CANCER_SCREEN", ("RURAL_WOMEN", "LOW_INCOME_WOMEN", "URBAN_WOMEN"), "SERVICE", None, (20_000, 400_000), (30, 300)),
    ProgramProfile("TWO_CANCER_RELIEF", ("LOW_INCOME_WOMEN", "DISTRESSED_WOMEN"), "CASH", (10_000, 10_000), (100_000, 1_000_000), (1, 10)),
    ProgramProfile("MOTHER_HEALTH_EXPRESS", ("RURAL_WOMEN", "PREGNANT_WOMEN"), "SERVICE", None, (50_000, 300_000), (40, 200)),
    ProgramProfile("MOTHER_PARCEL", ("LOW_INCOME_WOMEN", "SINGLE_MOTHERS", "DISABLED_WOMEN"), "GOODS", (200, 200), (20_000, 200_000), (20, 100)),
    ProgramProfile("SPRING_BUD", ("FEMALE_STUDENTS", "LEFT_BEHIND_CHILDREN"), "CASH", (1_000, 3_000), (50_000, 500_000), (5, 60)),
    ProgramProfile("HENGAI", ("LEFT_BEHIND_CHILDREN", "ORPHANS", "DISTRESSED_CHILDREN"), "GOODS", (150, 300), (10_000, 80_000), (10, 80)),
    ProgramProfile("DANDELION", ("DISTRESSED_WOMEN", "FAMILIES", "LEFT_BEHIND_CHILDREN"), "SERVICE", None, (5_000, 60_000), (10, 150)),
    ProgramProfile("LEGAL_AID", ("GENERAL_PUBLIC", "DISTRESSED_WOMEN"), "SERVICE", None, (3_000, 40_000), (50, 500)),
    ProgramProfile("MARITAL_MEDIATION", ("FAMILIES",), "SERVICE", None, (2_000, 20_000), (2, 20)),
    ProgramProfile("ENTREPRENEURSHIP", ("RURAL_WOMEN", "URBAN_WOMEN", "LOW_INCOME_WOMEN"), "SERVICE", None, (20_000, 300_000), (20, 120)),
    ProgramProfile("SKILLS_TRAINING", ("RURAL_WOMEN", "LOW_INCOME_WOMEN"), "SERVICE", None, (10_000, 150_000), (20, 80)),
    ProgramProfile("TECH_SERVICE", ("RURAL_WOMEN",), "SERVICE", None, (10_000, 100_000), (15, 60)),
    ProgramProfile("ECOMMERCE_LIVESTREAM", ("RURAL_WOMEN", "URBAN_WOMEN"), "SERVICE", None, (10_000, 200_000), (10, 50)),
    ProgramProfile("BEAUTIFUL_HOME", ("FAMILIES", "RURAL_WOMEN"), "SERVICE", None, (5_000, 80_000), (20, 200)),
    ProgramProfile("WOMENS_HOME", ("GENERAL_PUBLIC",), "SERVICE", None, (2_000, 50_000), (20, 150)),
    ProgramProfile("MOST_BEAUTIFUL_FAMILY", ("FAMILIES",), "SERVICE", None, (1_000, 20_000), (5, 50)),
    ProgramProfile("FAMILY_EDUCATION", ("FAMILIES", "LEFT_BEHIND_CHILDREN"), "SERVICE", None, (2_000, 30_000), (20, 200)),
    ProgramProfile("THEORY_OUTREACH", ("GENERAL_PUBLIC",), "SERVICE", None, (1_000, 20_000), (50, 600)),
    ProgramProfile("CARE_VISITS", ("ELDERLY_ALONE", "DISTRESSED_CHILDREN", "LOW_INCOME_WOMEN"), "GOODS", (300, 1_000), (10_000, 150_000), (10, 60)),
    ProgramProfile("MOTHER_WATER_CELLAR", ("RURAL_WOMEN", "FAMILIES"), "GOODS", (3_000, 3_000), (50_000, 300_000), (2, 15)),
)

FUND_SOURCES_IN = ("GOV_CENTRAL", "GOV_PROVINCIAL", "GOV_PREFECTURE", "GOV_COUNTY", "FOUNDATION", "CORPORATE", "PUBLIC_DONATION", "FEDERATION")

DONORS = (
    "中国妇女发展基金会", "中国儿童少年基金会", "内蒙古自治区妇女儿童发展基金会", "新疆维吾尔自治区妇女儿童发展基金会",
    "伊犁州慈善总会", "中国银行股份有限公司", "内蒙古伊利实业集团", "内蒙古蒙牛乳业集团", "爱心人士(个人)",
    "自治区财政厅", "州财政局", "中国女企业家协会",
)
RECIPIENTS = (
    "县妇联", "旗妇联", "市妇幼保健院", "县人民医院", "乡镇妇联", "嘎查村妇联", "巾帼电商直播基地",
    "妇女之家", "春蕾女童所在学校", "婚姻家庭纠纷调解委员会",
)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金贾韦夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
GIVEN = ("秀英", "桂英", "秀兰", "玉兰", "桂兰", "秀珍", "凤英", "玉珍", "丽", "敏", "静", "娟", "芳", "霞", "燕", "红梅", "晓梅", "春花", "海燕", "雪梅", "丽娜", "欣怡", "梓涵", "雨桐", "诗涵")
# Names common in Inner Mongolia and Ili, written as they appear in Chinese records.
MINORITY_NAMES = ("其其格", "萨仁高娃", "斯琴", "乌云", "娜仁花", "阿依古丽", "古丽娜尔", "热依拉", "帕提曼", "阿依努尔", "哈斯", "托娅")
