"""ClinicalTrials.gov API v2: CommonMark text rendered to plain text, pages of studies read study
by study, titles / summaries / study population kept once each."""
from __future__ import annotations

import json
import re
import zipfile

from connectors import registry
from connectors._markdown import to_plain
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop

#: eligibility criteria as API v2 serves them: CommonMark with backslash escapes
CRITERIA = (
    "Inclusion Criteria:\n\n"
    "* Age \\>=18 years\n"
    "* Haemoglobin \\<110 g/L at screening\n"
    "* Singleton pregnancy of 12 to 28 weeks \\[by ultrasound\\]\n"
    "  * dating scan before 20 weeks\n\n"
    "Exclusion Criteria:\n\n"
    "* Known haemoglobinopathy\n"
    "* Unable to take tablets (soft \\& chewable forms allowed)\n"
    "* Ferritin \\> 100 \u00b5g/L \\*or\\* CRP \\>= 10 mg/L"
)


def study(nct: str, **modules) -> dict:
    ps = {"identificationModule": {"nctId": nct, "briefTitle": f"Oral Iron in Pregnancy ({nct})"}}
    ps.update(modules)
    return {"protocolSection": ps, "derivedSection": {"miscInfoModule": {"versionHolder": "2025-01-08"}}, "hasResults": False}


def read_all(uri) -> list:
    c = registry.get("clinical_trials")(SourceConfig(name="clinical_trials", connector="clinical_trials", uri=uri))
    return [r for u in c.discover() for r in c.read(u)]


ESCAPE = re.compile(r"\\[!-/:-@\[-`{-~]")  # a CommonMark backslash escape left in the text


def test_markdown_rendered_to_plain_text_with_list_lines():
    t = to_plain(CRITERIA)
    assert not ESCAPE.search(t)
    assert t == (
        "Inclusion Criteria:\n\n"
        "* Age >=18 years\n"
        "* Haemoglobin <110 g/L at screening\n"
        "* Singleton pregnancy of 12 to 28 weeks [by ultrasound]\n"
        "  * dating scan before 20 weeks\n\n"
        "Exclusion Criteria:\n\n"
        "* Known haemoglobinopathy\n"
        "* Unable to take tablets (soft & chewable forms allowed)\n"
        "* Ferritin > 100 \u00b5g/L *or* CRP >= 10 mg/L"
    )
    # numbered items keep their own numbers; emphasis and links keep their text only; raw HTML stays text
    src = "1. Screening visit\n2. **Randomisation** at [week 0](https://example.org)\n\n10. Follow-up <b>visit</b>\n\nLine one\\\nline two"
    assert to_plain(src) == "1. Screening visit\n2. Randomisation at week 0\n\n10. Follow-up <b>visit</b>\n\nLine one\nline two"
    assert to_plain("") == "" and to_plain("   \n") == ""


def test_single_study_titles_duplicate_description_and_escapes(tmp_path):
    same = "This trial compares daily with alternate-day oral iron.\n\nIt enrolls pregnant women with anaemia."
    s = study(
        "NCT09000001",
        descriptionModule={"briefSummary": same, "detailedDescription": same.replace("\n\n", "\n\n  ")},
        eligibilityModule={"eligibilityCriteria": CRITERIA, "sex": "FEMALE", "minimumAge": "18 Years"},
        designModule={"studyType": "INTERVENTIONAL"}, statusModule={"overallStatus": "RECRUITING"},
    )
    s["protocolSection"]["identificationModule"]["officialTitle"] = "A Randomised Trial of Daily Versus Alternate-day Oral Iron in Anaemic Pregnant Women"
    (tmp_path / "NCT09000001.json").write_text(json.dumps(s))
    (d,) = read_all(str(tmp_path / "*.json"))
    assert isinstance(d, Doc) and d.doc_id == "clinical_trials:NCT09000001"
    t = d.text
    # the brief title is kept alongside the official title
    assert t.startswith("Oral Iron in Pregnancy (NCT09000001)\n\nA Randomised Trial of Daily Versus Alternate-day Oral Iron in Anaemic Pregnant Women\n\nBrief Summary\n")
    # a detailed description that repeats the brief summary appears once
    assert t.count("compares daily with alternate-day") == 1 and "Detailed Description" not in t
    assert "\n\nEligibility Criteria\nInclusion Criteria:\n\n* Age >=18 years\n* Haemoglobin <110 g/L" in t
    assert not ESCAPE.search(t)
    assert d.meta == {"nct_id": "NCT09000001", "status": "RECRUITING", "study_type": "INTERVENTIONAL", "language": "en"}


def test_identical_titles_once_and_observational_study_population(tmp_path):
    s = study(
        "NCT09000002",
        descriptionModule={"briefSummary": "Registry of adults with heart failure."},
        eligibilityModule={
            "studyPopulation": "Adults followed at two heart-failure clinics with an ejection fraction \\<40%.",
            "samplingMethod": "NON_PROBABILITY_SAMPLE",
            "eligibilityCriteria": "Inclusion Criteria:\n\n* NYHA class II-IV",
        },
        designModule={"studyType": "OBSERVATIONAL"},
    )
    s["protocolSection"]["identificationModule"]["officialTitle"] = "oral iron in  pregnancy (NCT09000002)"
    (tmp_path / "NCT09000002.json").write_text(json.dumps(s))
    (d,) = read_all(str(tmp_path))
    assert d.text == (
        "Oral Iron in Pregnancy (NCT09000002)\n\n"
        "Brief Summary\nRegistry of adults with heart failure.\n\n"
        "Study Population\nAdults followed at two heart-failure clinics with an ejection fraction <40%.\n\n"
        "Eligibility Criteria\nInclusion Criteria:\n\n* NYHA class II-IV"
    )
    assert d.meta["study_type"] == "OBSERVATIONAL"


def test_search_results_page_is_read_study_by_study(tmp_path):
    good = study("NCT09000003", descriptionModule={"briefSummary": "Summary \\#3."})
    empty = study("NCT09000005")
    page = {"studies": [good, "not a study", study("NCT09000004", eligibilityModule={"eligibilityCriteria": "* Adults"}), {"hasResults": True}, empty],
            "nextPageToken": "NF0g5JGBlPMs"}
    z = tmp_path / "pages.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("page-0001.json", json.dumps(page))
        zf.writestr("page-0002.json", json.dumps({"studies": []}))
        zf.writestr("list.json", json.dumps([study("NCT09000006", descriptionModule={"briefSummary": "Six."})]))
    recs = read_all(str(z))
    assert [(r.doc_id, type(r).__name__, getattr(r, "bucket", None)) for r in recs] == [
        ("clinical_trials:NCT09000003", "Doc", None),
        ("clinical_trials:page-0001#1", "Drop", "quarantined"),  # a bad study is quarantined alone
        ("clinical_trials:NCT09000004", "Doc", None),
        ("clinical_trials:page-0001#3", "Drop", "quarantined"),
        ("clinical_trials:NCT09000005", "Drop", "filtered"),  # no text fields
        ("clinical_trials:page-0002", "Drop", "filtered"),  # an empty page is counted
        ("clinical_trials:NCT09000006", "Doc", None),
    ]
    assert recs[0].text.endswith("Brief Summary\nSummary #3.")
    assert recs[1].location.endswith("::page-0001.json#1") and "not a study" not in recs[1].reason
    assert all(isinstance(r, Doc) or r.reason for r in recs if isinstance(r, Drop))


def test_title_contained_in_the_other_is_kept_once(tmp_path):
    from connectors.clinical_trials import _titles

    assert _titles("Oral Iron in Pregnancy", "Oral iron in pregnancy: a randomised trial") == ["Oral iron in pregnancy: a randomised trial"]
    assert _titles("Oral Iron  in Pregnancy", "oral iron in pregnancy") == ["Oral Iron in Pregnancy"]
    assert _titles("Iron Trial", "Daily Versus Alternate-day Oral Iron") == ["Iron Trial", "Daily Versus Alternate-day Oral Iron"]
    assert _titles(None, "Official only") == ["Official only"] and _titles("  ", None) == []
