"""Document-level fields by rule: the publisher/source line, the report year, the jurisdiction."""
from __future__ import annotations

import re
from collections import Counter

from minzheng_ie.core.record import Doc

SOURCE_LINE = re.compile(r"^.*(?:信息来源|來源|来源|发布机构|發布機構)\s*[:：].*$", re.M)
PUBLISHED = re.compile(r"(?:发布时间|發布時間|日期)\s*[:：]\s*((?:19|20)\d\d)")
DATED = re.compile(r"((?:19|20)\d\d)[.\-/年]\d{1,2}")
YEAR_PHRASE = re.compile(r"((?:19|20)\d\d)年")
PUBLISHER = re.compile(r"(?:信息来源|來源|来源)\s*[:：]\s*([\u4e00-\u9fff]{2,12}?)(?:民政局|民政厅|民政部|人民政府|政府|委)")


ADMIN_SUFFIXES = ("省", "市", "区", "區", "县", "縣", "自治州", "盟", "旗")


def document_fields(doc: Doc) -> None:
    """Fill doc.meta.source/year/jurisdiction where the text states them and they are unset."""
    text = doc.text
    m = SOURCE_LINE.search(text)
    if m and doc.meta.source is None:
        doc.meta.source = m.group(0).strip()
    if doc.meta.year is None:
        pub = (PUBLISHED.search(text) or (DATED.search(doc.meta.source) if doc.meta.source else None)
               or YEAR_PHRASE.search(text[:300]))
        if pub:
            doc.meta.year = int(pub.group(1))
    if doc.meta.jurisdiction is None:
        pub = PUBLISHER.search(text)
        if pub:
            doc.meta.jurisdiction = pub.group(1)
        else:
            # the most named division with an administrative suffix; named areas (成渝地区) are not
            # jurisdictions. Counter keeps first-seen order among ties.
            regions = Counter(e.text for e in doc.entities if e.label == "region" and e.text.endswith(ADMIN_SUFFIXES)
                               and not e.text.endswith(("地区", "地區")))
            if regions:
                doc.meta.jurisdiction = regions.most_common(1)[0][0]
