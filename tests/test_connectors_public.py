"""Public / synthetic sources: mtsamples, aci-bench, MTS-Dialog, PMC-Patients, Asclepius,
augmented clinical notes, guidelines, ClinicalTrials.gov, MedQuAD, CodiEsp."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from connectors import registry
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop

FIX = Path(__file__).parent / "fixtures" / "all20"


def read_all(connector: str, uri, **options) -> list:
    c = registry.get(connector)(SourceConfig(name=connector, connector=connector, uri=uri, options=options))
    return [r for u in c.discover() for r in c.read(u)]


def ids(recs, kind=Doc):
    return [r.doc_id for r in recs if isinstance(r, kind)]


def drops(recs):
    return [(r.doc_id, r.bucket) for r in recs if isinstance(r, Drop)]


def test_mtsamples_index_ids_and_empty_transcription():
    recs = read_all("mtsamples", str(FIX / "mtsamples/mtsamples.csv"))
    assert ids(recs) == ["mtsamples:0", "mtsamples:1", "mtsamples:2"]
    assert drops(recs) == [("mtsamples:3", "filtered")]
    assert recs[0].text == recs[2].text  # a repeated transcription (left to exact dedup)
    assert recs[0].meta["medical_specialty"] == " Allergy / Immunology"


def test_aci_bench_dialogue_and_note():
    recs = read_all("aci_bench", str(FIX / "aci_bench/challenge_data/*.csv"))
    assert ids(recs) == ["aci_bench:train/D2N001#dialogue", "aci_bench:train/D2N001#note", "aci_bench:train/D2N002#dialogue", "aci_bench:train/D2N002#note"]
    assert recs[0].text.startswith("[doctor] hi , how are you doing today ?\n[patient] i'm okay , my knee has been hurting , \"really\" bad.")
    assert recs[1].meta == {"dataset": "virtassist", "language": "en"}


def test_mts_dialog_file_scoped_ids(tmp_path):
    recs = read_all("mts_dialog", str(FIX / "mts_dialog/Main-Dataset/MTS-Dialog-*.csv"))
    assert ids(recs) == ["mts_dialog:MTS-Dialog-TrainingSet/0#section_text", "mts_dialog:MTS-Dialog-TrainingSet/0#dialogue",
                         "mts_dialog:MTS-Dialog-TrainingSet/1#section_text", "mts_dialog:MTS-Dialog-TrainingSet/1#dialogue"]
    assert recs[0].meta["section_header"] == "GENHX"
    # a ragged row is quarantined with its line number, the rest comes through
    p = tmp_path / "MTS-Dialog-ValidationSet.csv"
    p.write_text('ID,section_header,section_text,dialogue\n0,CC,"Cough, fever.","Doctor: Hi\nPatient: Hello"\n1,CC,only three\n2,ROS,"None.","Doctor: Any pain?"\n')
    recs = read_all("mts_dialog", str(p))
    assert ids(recs) == ["mts_dialog:MTS-Dialog-ValidationSet/0#section_text", "mts_dialog:MTS-Dialog-ValidationSet/0#dialogue",
                         "mts_dialog:MTS-Dialog-ValidationSet/2#section_text", "mts_dialog:MTS-Dialog-ValidationSet/2#dialogue"]
    assert [b for _, b in drops(recs)] == ["quarantined"]


def test_pmc_patients():
    recs = read_all("pmc_patients", str(FIX / "pmc_patients/PMC-Patients.csv"))
    assert ids(recs) == ["pmc_patients:7665777-1", "pmc_patients:7665778-1", "pmc_patients:7665779-1"]
    assert recs[0].text.startswith("A 40-year-old man presented with fever and cough.")
    assert recs[0].meta == {"PMID": "33492400", "gender": "M", "language": "en"}


def test_asclepius_note_once_per_patient():
    recs = read_all("asclepius_notes", str(FIX / "asclepius_notes/data/*.parquet"))
    assert ids(recs) == ["asclepius_notes:0", "asclepius_notes:1"]
    assert drops(recs) == [("asclepius_notes:0#row1", "filtered"), ("asclepius_notes:0#row2", "filtered")]
    assert all(r.reason.startswith("source rule:") for r in recs if isinstance(r, Drop))


def test_augmented_clinical_notes_and_guidelines():
    recs = read_all("augmented_clinical_notes", str(FIX / "augmented_clinical_notes/augmented_notes_30K.jsonl"))
    assert ids(recs) == ["augmented_clinical_notes:155216#full_note", "augmented_clinical_notes:155216#conversation",
                         "augmented_clinical_notes:155217#full_note", "augmented_clinical_notes:155217#conversation"]
    assert recs[1].text.startswith("Doctor: What brings you in today?")
    recs = read_all("clinical_guidelines", str(FIX / "clinical_guidelines/open_guidelines.jsonl"))
    assert ids(recs) == ["clinical_guidelines:0000a1b2c3d4e5f6", "clinical_guidelines:0001a1b2c3d4e5f6"]
    assert recs[0].meta == {"source": "who", "title": "Guideline on invented topic 0", "language": "en"}
    assert recs[0].text.startswith("# Guideline on invented topic 0\n\n## Recommendations\n\n")


def test_clinical_trials_zip(tmp_path):
    recs = read_all("clinical_trials", str(FIX / "clinical_trials/ctg-studies.json.zip"))
    assert ids(recs) == ["clinical_trials:NCT02252835", "clinical_trials:NCT00000102"]
    assert drops(recs) == [("clinical_trials:NCT01234517", "filtered")]
    t = recs[0].text
    assert t.startswith("Invented Trial NCT02252835\n\nA Randomized Trial of an Invented Intervention (NCT02252835)\n\nBrief Summary\n")
    assert "\n\nDetailed Description\n" in t and "\n\nEligibility Criteria\nInclusion Criteria:\n\n* Adults aged 18 to 80" in t
    assert recs[0].meta == {"nct_id": "NCT02252835", "status": "COMPLETED", "study_type": "INTERVENTIONAL", "language": "en"}
    # zip with a non-text member, a malformed JSON member and a non-study JSON
    z = tmp_path / "ctg-studies.json.zip"
    good = {"protocolSection": {"identificationModule": {"nctId": "NCT1"}, "descriptionModule": {"briefSummary": "A summary."}}}
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("NCT1.json", json.dumps(good))
        zf.writestr("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
        zf.writestr("NCT2.json", '{"protocolSection": {"identificationModule": ')
        zf.writestr("NCT3.json", "[1, 2]")
    recs = read_all("clinical_trials", str(z))
    assert ids(recs) == ["clinical_trials:NCT1"] and recs[0].text == "Brief Summary\nA summary."
    assert drops(recs) == [("clinical_trials:logo.png", "quarantined"), ("clinical_trials:NCT2", "quarantined"),
                            ("clinical_trials:NCT3#0", "quarantined"), ("clinical_trials:NCT3#1", "quarantined")]  # a list of two non-studies


def test_medquad_pairs_empty_answers_and_malformed(tmp_path):
    recs = read_all("medquad", str(FIX / "medquad/*_QA*/*.xml"))
    assert ids(recs) == ["medquad:1_CancerGov_QA/0000001_1#1", "medquad:1_CancerGov_QA/0000001_1#2"]
    assert drops(recs) == [("medquad:11_MPlusDrugs_QA/0000001#1", "filtered"), ("medquad:11_MPlusDrugs_QA/0000001#2", "filtered")]
    d = [r for r in recs if isinstance(r, Doc)][0]
    assert d.text.startswith("What is (are) Adult Acute Lymphoblastic Leukemia ?\n\nKey Points - Adult acute lymphoblastic leukemia (ALL)")
    assert d.meta == {"focus": "Adult Acute Lymphoblastic Leukemia", "qtype": "information", "collection": "CancerGov", "language": "en"}
    col = tmp_path / "5_NIDDK_QA"
    col.mkdir()
    (col / "0000001.xml").write_text("<Document id='1'><QAPairs><QAPair pid='1'><Question>Q?</Question><Answer>broken")
    recs = read_all("medquad", str(tmp_path / "*_QA*/*.xml"))
    assert drops(recs) == [("medquad:5_NIDDK_QA/0000001", "quarantined")]


def test_codiesp_spanish_and_english():
    recs = read_all("codiesp", str(FIX / "codiesp/final_dataset_v4_to_publish/*/text_files*/*.txt"))
    assert [(r.doc_id, r.meta["language"]) for r in recs] == [
        ("codiesp:dev/text_files/S0211-69952013000500019-1.txt", "es"), ("codiesp:dev/text_files_en/S0211-69952013000500019-1.txt", "en"),
        ("codiesp:train/text_files/S0004-06142005000500011-1.txt", "es"), ("codiesp:train/text_files_en/S0004-06142005000500011-1.txt", "en"),
    ]
    assert recs[2].text.startswith("Varón de 37 años con antecedentes de hipertensión arterial")
    assert recs[2].meta["split"] == "train"


def test_mtsamples_line_breaks_back_from_scrape_commas(tmp_path):
    p = tmp_path / "mtsamples.csv"
    p.write_text(',description,medical_specialty,sample_name,transcription,keywords\n'
                 '0, Echo., Cardiovascular / Pulmonary, 2-D Echocardiogram ,"2-D M-MODE: , ,1.  Left atrial enlargement, 4.7 cm.,2.  Normal size right '
                 'and left ventricle.,DOPPLER: , Trace mitral regurgitation.","cardiology,"\n'
                 '1, Allergy., Allergy / Immunology, Allergic Rhinitis ,"SUBJECTIVE:,  She has asthma, not flaring up.,MEDICATIONS: , Claritin, Zyrtec.","allergy,"\n')
    a, b = read_all("mtsamples", str(p))
    assert a.text == "2-D M-MODE:\n1.  Left atrial enlargement, 4.7 cm.\n2.  Normal size right and left ventricle.\nDOPPLER:\nTrace mitral regurgitation."
    assert b.text == "SUBJECTIVE:\nShe has asthma, not flaring up.\nMEDICATIONS:\nClaritin, Zyrtec."  # commas inside sentences stay


def test_medquad_answer_list_items_on_their_own_lines(tmp_path):
    col = tmp_path / "3_GHR_QA"
    col.mkdir()
    (col / "0000001.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Document id="0000001" source="GHR" url="https://ghr.nlm.nih.gov/condition/x">\n'
        "<Focus>X syndrome</Focus>\n<QAPairs>\n\t<QAPair pid=\"5\">\n\t\t\t<Question qid=\"0000001-5\" qtype=\"treatment\">What are the treatments for X syndrome ?</Question>\n"
        "\t\t\t<Answer>These resources address the diagnosis or management of X syndrome:  - Genetic Testing Registry: X syndrome  - "
        "MedlinePlus Encyclopedia: X syndrome   Doses range 5  - 10 mg.</Answer>\n\t</QAPair>\n</QAPairs>\n</Document>\n")
    (d,) = read_all("medquad", str(tmp_path / "*_QA*/*.xml"))
    assert d.text == ("What are the treatments for X syndrome ?\n\nThese resources address the diagnosis or management of X syndrome:\n"
                      "- Genetic Testing Registry: X syndrome\n- MedlinePlus Encyclopedia: X syndrome   Doses range 5  - 10 mg.")
