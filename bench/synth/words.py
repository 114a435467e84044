"""The vocabulary every synthetic-text generator draws from: names, places, clinical and literature phrases.

Three generators write committed files that must regenerate byte-identically (the demo corpus,
the de-identification gold set, the connector fixtures): the lists they read are never reordered
or extended.  Where the benchmark corpus wants a wider vocabulary it adds a ``MORE_*`` list to the
shared one instead.  Every value is invented or generic; no list holds data about a real person.
"""
from __future__ import annotations


def _phrases(text: str) -> list[str]:
    """The ``|``-separated phrases of ``text``, in order (line breaks inside a phrase are spaces)."""
    return [" ".join(p.split()) for p in text.split("|") if p.strip()]


# ----------------------------------------------------------------------------------------------- people and places

#: common US first names
FIRST_NAMES = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph
Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark Sandra
Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian
Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan
Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela
Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra
Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth
Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary Kelly Peter Lauren Kyle
Christina Ethan Joan Walter Evelyn Noah Judith Jeremy Megan Christian Andrea Keith Cheryl Roger Hannah Terry
Jacqueline Gerald Martha Harold Gloria Sean Teresa Austin Ann Carl Sara Arthur Madison Lawrence Frances
Dylan Kathryn Jesse Janice Jordan Jean Bryan Abigail Billy Alice Joe Judy Bruce Sophia Gabriel Grace Logan
Denise Albert Amber Willie Doris Alan Marilyn Juan Danielle Wayne Beverly Elijah Isabella Randy Theresa Roy
Diana Vincent Natalie Ralph Brittany Eugene Charlotte Russell Marie Bobby Kayla Mason Alexis Philip Lori
Louis Priya Wei Mohammed Fatima Hiroshi Olga Santiago Aisha""".split()

#: common US last names
LAST_NAMES = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera
Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart
Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim
Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo
Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds
Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford
Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman
Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon
Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice
Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer
Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson
Carroll Lane Riley Andrews Ray Berry Perkins Hoffman Johnston Matthews Pena Richards Willis Carpenter
Lawrence Sandoval O'Brien O'Connor McCarthy MacDonald Schultz Kowalski Yamamoto Okafor Ivanova Haddad Singh""".split()

#: more first names (benchmark corpus)
MORE_FIRST_NAMES = """Chen Ahmed Linnea Omar""".split()

#: more last names (benchmark corpus)
MORE_LAST_NAMES = """Rossi""".split()

#: first names of the surrogate identifiers the demo notes leak
SURROGATE_FIRST_NAMES = """Maria Thomas Aisha Peter Linnea Samuel Grace Omar Helen""".split()

#: last names of the surrogate identifiers the demo notes leak
SURROGATE_LAST_NAMES = """Alvarez Brennan Chowdhury Dubois Eriksen Fitzgerald Gallagher Hoffmann Ishikawa""".split()

#: street names
STREETS = """Oak Maple Pine Cedar Elm Washington Lake Hill Park Main Church Highland Forest Union Prospect Chestnut
Spring Walnut Center Franklin Lincoln Jefferson Madison Summer Winter Beacon Harvard Cambridge Commonwealth
Tremont Boylston Pleasant Meadow River Mill School Grove""".split()

#: street suffixes, spelled out and abbreviated
STREET_SUFFIXES = """Street St. Avenue Ave Road Rd Boulevard Lane Drive Court Way Place Terrace""".split()

#: (city, state)
CITIES = [tuple(c.split(", ")) for c in _phrases("""
    Boston, MA | Cambridge, MA | Worcester, MA | Springfield, MA | Quincy, MA | Providence, RI |
    Hartford, CT | New Haven, CT | Albany, NY | Buffalo, NY | Portland, ME | Burlington, VT |
    Manchester, NH | Newark, NJ | Philadelphia, PA | Pittsburgh, PA | Baltimore, MD | Richmond, VA |
    Columbus, OH | Ann Arbor, MI | Chicago, IL | Madison, WI | Minneapolis, MN | Denver, CO | Phoenix,
    AZ | San Diego, CA | Oakland, CA | Seattle, WA | Austin, TX | Houston, TX
""")]

#: e-mail domains
EMAIL_DOMAINS = """gmail.com yahoo.com partners.org bidmc.harvard.edu hotmail.com comcast.net mgh.org outlook.com""".split()

#: month names
MONTHS = _phrases("""
    January | February | March | April | May | June | July | August | September | October | November |
    December
""")

#: clinician credentials
CREDENTIALS = _phrases("""
    MD | M.D. | RN | NP | PA-C | DO | MD, PhD
""")


# ----------------------------------------------------------------------------------------------- clinical

#: presenting symptoms
SYMPTOMS = _phrases("""
    chest pain | shortness of breath | fever | abdominal pain | syncope | headache | cough | nausea and
    vomiting | lower extremity edema | altered mental status | palpitations | dysuria
""")

#: more symptoms (benchmark corpus)
MORE_SYMPTOMS = _phrases("""
    nausea | vomiting | dizziness | fatigue | hematuria | confusion | weakness | back pain | diarrhea |
    melena | hemoptysis | rash | weight loss | dyspnea on exertion
""")

#: admission diagnoses
DIAGNOSES = _phrases("""
    community-acquired pneumonia | acute decompensated heart failure | NSTEMI | sepsis secondary to UTI
    | COPD exacerbation | diabetic ketoacidosis | acute kidney injury | atrial fibrillation with RVR |
    cellulitis of the left leg | pulmonary embolism | GI bleed | hyponatremia
""")

#: problem-list entries, abbreviated as notes write them
PROBLEM_LIST = _phrases("""
    CHF exacerbation | COPD exacerbation | community-acquired pneumonia | NSTEMI | acute kidney injury |
    DKA | upper GI bleed | cellulitis of the left lower extremity | atrial fibrillation with RVR |
    sepsis from a urinary source | hip fracture s/p ORIF | altered mental status | syncope | pulmonary
    embolism | small bowel obstruction
""")

#: more diagnoses (benchmark corpus)
MORE_DIAGNOSES = _phrases("""
    congestive heart failure exacerbation | atrial fibrillation with rapid ventricular response | sepsis
    secondary to urinary tract infection | upper gastrointestinal bleed | alcohol withdrawal | acute
    pancreatitis | ischemic stroke | hypertensive urgency | C. difficile colitis
""")

#: drug names
DRUGS = _phrases("""
    metoprolol tartrate | lisinopril | atorvastatin | aspirin | furosemide | heparin | enoxaparin |
    insulin glargine | metformin | amlodipine | pantoprazole | ceftriaxone | azithromycin | vancomycin |
    piperacillin-tazobactam | apixaban | warfarin | prednisone | albuterol | tiotropium | sertraline |
    gabapentin | oxycodone | acetaminophen | levothyroxine | tamsulosin | ondansetron | potassium
    chloride | magnesium oxide | docusate
""")

#: medication orders with dose, route and frequency
DRUG_ORDERS = _phrases("""
    Lisinopril 10 mg PO daily | Metoprolol tartrate 25 mg PO BID | Furosemide 40 mg IV BID | Aspirin 81
    mg PO daily | Atorvastatin 80 mg PO QHS | Metformin 500 mg PO BID | Heparin 5000 units SC q8h |
    Warfarin 2.5 mg PO daily | Vancomycin 1 g IV q12h | Pantoprazole 40 mg PO daily | Insulin glargine
    22 units SC QHS | Levothyroxine 75 mcg PO daily | Amlodipine 5 mg PO daily | Ceftriaxone 1 g IV q24h
    | Oxycodone 5 mg PO q4h PRN pain | Acetaminophen 650 mg PO q6h PRN
""")

#: discharge medications, short form
DISCHARGE_MEDS = _phrases("""
    aspirin 81 mg daily | metoprolol tartrate 25 mg BID | lisinopril 10 mg daily | atorvastatin 40 mg
    nightly | furosemide 40 mg IV BID | ceftriaxone 1 g IV q24h | insulin glargine 20 units qHS |
    apixaban 5 mg BID | pantoprazole 40 mg daily | albuterol nebs q4h PRN | vancomycin 1 g IV q12h |
    heparin SC TID
""")

#: consulting services
SERVICES = _phrases("""
    Cardiology | Nephrology | Infectious Disease | General Surgery | Neurology | Physical Therapy |
    Social Work | Case Management
""")

#: laboratory tests
LABS = """sodium potassium chloride bicarbonate BUN creatinine glucose WBC hemoglobin hematocrit platelets INR
troponin lactate BNP ALT AST lipase""".split()

#: physical-exam sites
EXAM_SITES = _phrases("""
    heart | lungs | abdomen | extremities | skin | neck | HEENT | neuro | chest wall | pelvis
""")

#: imaging studies
IMAGING = _phrases("""
    chest radiograph | CT of the abdomen and pelvis with contrast | CT head without contrast |
    transthoracic echocardiogram | renal ultrasound | MRI brain | CT angiogram of the chest | right
    upper quadrant ultrasound
""")

#: imaging findings (``{n}`` is filled with a number)
IMAGING_FINDINGS = _phrases("""
    no acute cardiopulmonary process | small bilateral pleural effusions | a left lower lobe
    consolidation | mild cardiomegaly | no intracranial hemorrhage | an ejection fraction of {n}% | mild
    hydronephrosis | a {n} mm nonobstructing renal calculus | diffuse bowel wall thickening | no
    evidence of pulmonary embolism
""")

#: chest radiograph findings, as sentences
RADIOLOGY_FINDINGS = _phrases("""
    No acute cardiopulmonary process. | Mild cardiomegaly without edema. | Right lower lobe
    consolidation. | Small bilateral pleural effusions. | Interval improvement of left basilar
    atelectasis. | No pneumothorax. | Stable appearance of the mediastinum. | Endotracheal tube 4 cm
    above the carina.
""")

#: discharge summary sections
NOTE_SECTIONS = _phrases("""
    Chief Complaint | History of Present Illness | Past Medical History | Medications on Admission |
    Allergies | Physical Exam | Pertinent Results | Brief Hospital Course | Discharge Medications |
    Discharge Diagnosis | Discharge Instructions | Followup Instructions
""")

#: generic hospital-course sentences
CLINICAL_SENTENCES = _phrases("""
    The patient was admitted with progressive shortness of breath over three days. | Chest radiograph
    showed bilateral lower lobe opacities concerning for pneumonia. | He was started on intravenous
    ceftriaxone and azithromycin with gradual improvement. | Blood cultures remained negative throughout
    the hospital course. | Renal function worsened transiently and recovered with intravenous fluids. |
    She reported intermittent substernal chest pressure radiating to the left arm. | Troponin peaked at
    a modest level and the electrocardiogram showed no acute changes. | Cardiology recommended medical
    management with aspirin, statin and beta blockade. | The wound was irrigated, debrided and closed in
    layers without complication. | Postoperative pain was controlled with oral analgesics and early
    ambulation. | Hemoglobin remained stable and no transfusion was required. | Insulin was titrated to
    keep glucose within the target range before meals. | A swallow evaluation recommended a soft diet
    with thin liquids. | Physical therapy cleared the patient for discharge home with a walker. | Home
    medications were resumed except for the diuretic, which was held. | Follow up with the primary care
    physician was arranged within one week. | The abdomen was soft and nontender with normal bowel
    sounds. | Neurologic examination was nonfocal and mental status returned to baseline. | Computed
    tomography of the head showed no hemorrhage or mass effect. | Anticoagulation was started after the
    bleeding risk was reviewed with the family. | Oxygen saturation improved on two liters by nasal
    cannula and was weaned to room air. | Sputum culture grew a pan-sensitive organism and antibiotics
    were narrowed. | An echocardiogram demonstrated preserved ejection fraction and mild mitral
    regurgitation. | The lactate normalized after resuscitation and vasopressors were not needed. | Skin
    examination revealed a healing stage two pressure ulcer over the sacrum. | Magnesium and potassium
    were repleted according to the electrolyte protocol. | The urinary catheter was removed and the
    patient voided without difficulty. | Thyroid stimulating hormone was within normal limits. | Diet
    was advanced as tolerated and nausea resolved by the third day. | The patient verbalized
    understanding of the discharge instructions and warning signs. | Lower extremity ultrasound found no
    evidence of deep venous thrombosis. | Pulmonary function testing suggested a moderate obstructive
    pattern. | Inhaled bronchodilators and a short course of prednisone were prescribed. | Smoking
    cessation counseling was provided at length during the admission. | The rash was attributed to the
    antibiotic, which was discontinued. | Liver enzymes trended down after the offending medication was
    stopped. | A colonoscopy was scheduled as an outpatient to evaluate the anemia. | Vital signs were
    stable on the morning of discharge. | The fracture was managed nonoperatively in a splint with
    orthopedic follow up. | Blood pressure was controlled after the dose of amlodipine was increased.
""")


# ----------------------------------------------------------------------------------------------- literature

#: conditions studied
TOPICS = _phrases("""
    sepsis | heart failure | type 2 diabetes | chronic kidney disease | atrial fibrillation | asthma |
    breast cancer | tuberculosis | stroke | COVID-19 | hypertension | depression
""")

#: more conditions (benchmark corpus)
MORE_TOPICS = _phrases("""
    heart failure with preserved ejection fraction | non-small cell lung cancer | Alzheimer disease |
    rheumatoid arthritis | hepatocellular carcinoma | major depressive disorder | multiple sclerosis |
    osteoporosis
""")

#: study designs
STUDY_DESIGNS = _phrases("""
    a retrospective cohort study | a randomized controlled trial | a prospective observational study | a
    systematic review and meta-analysis | a cross-sectional survey | a case-control study
""")

#: more study designs (benchmark corpus)
MORE_STUDY_DESIGNS = _phrases("""
    a cross-sectional analysis | a single-center case series | a multicenter registry study | a nested
    case-control design
""")

#: study outcomes
OUTCOMES = _phrases("""
    30-day mortality | hospital readmission | length of stay | glycemic control | quality of life |
    major adverse cardiac events | time to recovery | treatment adherence
""")

#: more outcomes (benchmark corpus)
MORE_OUTCOMES = _phrases("""
    all-cause mortality | 30-day readmission | progression-free survival | HbA1c | major adverse
    cardiovascular events | ICU admission | time to remission
""")

#: genes and proteins
GENES = """BRCA1 TP53 EGFR KRAS HER2 APOE CFTR PD-L1 IL-6 TNF-alpha VEGF ACE2 mTOR PCSK9 SGLT2""".split()

#: frequent words of notes and abstracts
FILLER_WORDS = """the of and to in was with for on patient is were at by as had be not this that which from an are after given
noted also showed without treated started continued significant increased decreased stable improved history
admitted discharged hospital day evaluation management therapy dose daily twice plan follow outpatient
clinic symptoms findings normal abnormal mild moderate severe acute chronic left right bilateral prior
recent further however although therefore overall associated compared higher lower risk among patients study
results analysis data group groups effect""".split()
