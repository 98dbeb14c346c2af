import pytest

# A tiny labeled corpus written for the tests: enough per label for 5-fold cross-validation.
TRADE = [
    "Tariffs on imported steel rise to 25 percent", "Trade deficit widens as imports of cars surge",
    "Ministers sign free trade agreement after long negotiations", "WTO rules against export subsidies for aircraft",
    "Anti-dumping duties imposed on solar panel imports", "Beijing retaliates with tariffs on soybeans",
    "Export ban on rice lifted as harvest improves", "Customs officials tighten rules of origin for textiles",
    "Exports fall for third month as tariff war bites", "Trade talks stall over farm import quotas",
    "Quota on sugar imports raised by commerce ministry", "New tariffs threaten car exports to Europe",
    "Trade surplus with Japan narrows in March", "Negotiators close in on trade deal with Canada",
    "Duties on cheap imported tyres extended for five years", "Dairy exports hit by new import licences",
]
SECURITY = [
    "Missile test over the sea alarms neighbours", "Troops deployed to the border after clashes",
    "Army launches offensive against rebel positions", "Navy ships shadow warships in disputed strait",
    "Defence ministry orders new fighter jets", "Ceasefire talks collapse as shelling resumes",
    "Nuclear talks resume over enrichment limits", "Alliance holds large military exercises in the north",
    "Terror cell plotting bomb attacks arrested", "Air strikes hit weapons depots overnight",
    "Soldiers killed in ambush near the frontier", "Military junta mobilises reserve battalions",
    "Warplanes intercepted near airspace boundary", "Defence budget boosted for new submarines",
    "Artillery fire heard across the contested valley", "Generals brief parliament on troop readiness",
]
HEALTH = [
    "Vaccine approved for children after trial results", "Hospital staffing shortage leaves wards closed",
    "Health insurance premiums to rise next year", "Outbreak of measles spreads in three counties",
    "New drug lowers blood pressure in trial", "Medicare to negotiate prices of prescription drugs",
    "Doctors warn of flu season strain on clinics", "Smoking ban extended to parks and beaches",
    "Cancer screening programme expanded for women", "Mental health services get more funding",
    "Nurses strike over pay and patient safety", "Patients wait months for hip surgery",
    "Clinic reports rise in diabetes diagnoses", "Public health campaign targets childhood obesity",
    "Antibiotic resistance worries doctors at hospitals", "Health ministry funds new vaccine research",
]
OTHER = [
    "Local team wins championship in overtime", "Heavy rain expected across the region tomorrow",
    "Film festival opens with a comedy premiere", "Mayor unveils plan for new bus lanes",
    "Stock market closes higher on bank earnings", "Museum reopens after renovation",
    "Chef opens restaurant serving regional dishes", "Storm topples trees and cuts power",
    "Singer announces world tour dates", "School board approves new reading curriculum",
    "Police arrest suspect in jewellery theft", "Election campaign enters final week",
    "Astronomers spot a distant comet", "Striker scores twice in derby win",
    "City council debates parking fees", "Novelist wins literary prize for debut",
    "Farmers market draws record crowds", "Airline adds flights to holiday islands",
]
MULTI = [
    ("Chip export controls tighten as tariffs hit electronics imports", ["trade", "tech_policy"]),
    ("Regulators fine platform over data privacy and impose tariffs on devices", ["trade", "tech_policy"]),
    ("Export curbs on advanced chips escalate the trade dispute", ["trade", "tech_policy"]),
    ("Chip subsidies and trade tariffs dominate tech regulation debate", ["trade", "tech_policy"]),
    ("Trade ministers clash over chip export licences and AI rules", ["trade", "tech_policy"]),
    ("Semiconductor export controls widen in tariff row", ["trade", "tech_policy"]),
]


def corpus():
    rows = [(t, ["trade"]) for t in TRADE] + [(t, ["security"]) for t in SECURITY]
    rows += [(t, ["health"]) for t in HEALTH] + [(t, ["other"]) for t in OTHER] + MULTI
    return [r[0] for r in rows], [r[1] for r in rows]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """No test touches the user's real topictag home."""
    monkeypatch.setenv("TOPICTAG_HOME", str(tmp_path / "topictag-home"))
    return tmp_path / "topictag-home"


@pytest.fixture(scope="session")
def tiny_corpus():
    return corpus()


@pytest.fixture(scope="session")
def tiny_model(tiny_corpus):
    from topictag import TopicClassifier

    texts, labels = tiny_corpus
    return TopicClassifier(random_state=0).fit(texts, labels)


@pytest.fixture
def tiny_csv(tmp_path, tiny_corpus):
    import csv

    texts, labels = tiny_corpus
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for text, label in zip(texts, labels):
            writer.writerow([text, "|".join(label)])
    return path


@pytest.fixture
def model_file(tiny_model, tmp_path):
    path = tmp_path / "tiny.topictag"
    tiny_model.save(path)
    return path
