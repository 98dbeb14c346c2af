import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from topictag import __version__
from topictag.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def articles(tmp_path):
    folder = tmp_path / "articles"
    (folder / "nested").mkdir(parents=True)
    (folder / "steel.txt").write_text("New tariffs on imported steel and cars", encoding="utf-8")
    (folder / "nested" / "army.txt").write_text("Troops and missile batteries deployed to the border", encoding="utf-8")
    (folder / "nested" / "festival.md").write_text("Film festival premiere draws singer", encoding="utf-8")
    return folder


def records(output):
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"topictag {__version__}"


def test_train_prints_cv_metrics_and_saves_a_model(tiny_csv, tmp_path):
    out = tmp_path / "m.topictag"
    result = invoke("train", tiny_csv, "--out", out, "--seed", 1, "--classifier", "svm")
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "Cross-validated quality" in result.output and "micro avg" in result.output and "Confusion" in result.output
    json_result = invoke("train", tiny_csv, "--out", tmp_path / "m2.topictag", "--format", "json")
    report = json.loads(json_result.stdout)
    assert set(report["labels"]) == {"health", "security", "tech_policy", "trade", "other"}


def test_train_same_seed_gives_identical_tags(tiny_csv, tmp_path, articles):
    outputs = []
    for name in ("a", "b"):
        model = tmp_path / f"{name}.topictag"
        assert invoke("train", tiny_csv, "--out", model, "--seed", 7, "--classifier", "sgd").exit_code == 0
        outputs.append(invoke("tag", articles, "--model", model, "--format", "jsonl").stdout)
    assert outputs[0] == outputs[1]


def test_tag_folder_gives_one_record_per_file(model_file, articles):
    result = invoke("tag", articles, "--model", model_file, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = records(result.stdout)
    assert [Path(r["source"]).name for r in rows] == ["steel.txt", "army.txt", "festival.md"]
    by_name = {Path(r["source"]).name: r for r in rows}
    assert by_name["steel.txt"]["tags"] == ["trade"] and by_name["steel.txt"]["top"] == "trade"
    assert by_name["army.txt"]["top"] == "security"
    assert by_name["festival.md"]["tags"] == [] and by_name["festival.md"]["top"] == "other"
    assert set(by_name["steel.txt"]["scores"]) == {"health", "security", "tech_policy", "trade"}


def test_tag_glob_stdin_and_lines(model_file, articles):
    result = invoke("tag", f"{articles}/**/*.txt", "--model", model_file)
    assert [Path(r["source"]).name for r in records(result.stdout)] == ["army.txt", "steel.txt"]
    result = invoke("tag", "-", "--model", model_file, input="Vaccine approved for children\n")
    assert records(result.stdout) == [dict(records(result.stdout)[0], source="-", top="health")]
    result = invoke("tag", "-", "--lines", "--model", model_file, input="Tariffs on steel\n\nStorm cuts power\n")
    assert [(r["source"], r["top"]) for r in records(result.stdout)] == [("-:1", "trade"), ("-:3", "other")]


def test_tag_csv_table_output_file_top_k_and_threshold(model_file, articles, tmp_path):
    out = tmp_path / "tags.csv"
    result = invoke("tag", articles / "steel.txt", "--model", model_file, "--format", "csv", "--output", out, "--threshold", "0", "--top-k", "2")
    assert result.exit_code == 0 and result.stdout == ""
    header, row = out.read_text().splitlines()
    assert header == "source,top,tags,score_health,score_security,score_tech_policy,score_trade,error"
    assert row.split(",")[2].count("|") == 1
    table = invoke("tag", articles / "steel.txt", "--model", model_file, "--format", "table")
    assert "steel.txt" in table.stdout and "trade" in table.stdout


def test_unreadable_inputs_still_get_a_record(model_file, tmp_path):
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    result = invoke("tag", tmp_path / "empty.txt", tmp_path / "image.png", "--model", model_file)
    assert result.exit_code == 0
    assert [r.get("error") for r in records(result.stdout)] == ["empty text", "binary file, not text"]


def test_evaluate_prints_report_and_json(model_file, tiny_csv):
    result = invoke("evaluate", tiny_csv, "--model", model_file)
    assert result.exit_code == 0 and "precision" in result.stdout and "Confusion" in result.stdout
    report = json.loads(invoke("evaluate", tiny_csv, "--model", model_file, "--format", "json").stdout)
    assert report["n"] == 72 and report["micro"]["f1"] > 0.9
    calibration = report["calibration"]["trade"]
    assert 0 <= calibration["brier"] <= 1 and 0 <= calibration["ece"] <= 1 and sum(r["texts"] for r in calibration["reliability"]) == 72
    assert "Calibration" in result.stdout and "Reliability" in result.stdout


def test_info_shows_metadata_and_metrics(model_file):
    result = invoke("info", model_file)
    assert result.exit_code == 0
    for expected in ("Labels: health, security, tech_policy, trade", "Thresholds:", "scikit-learn", "Cross-validated quality"):
        assert expected in result.stdout
    details = json.loads(invoke("info", model_file, "--format", "json").stdout)
    assert details["training"]["label_counts"]["trade"] == 22


def test_explain_text_and_file(model_file, articles):
    result = invoke("explain", "New tariffs on steel imports", "--model", model_file)
    assert result.exit_code == 0 and "trade" in result.stdout and "tariffs" in result.stdout
    data = json.loads(invoke("explain", articles / "steel.txt", "--model", model_file, "--format", "json", "-l", "health").stdout)
    assert [d["label"] for d in data] == ["health"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "missing.csv", "--out", "{tmp}/m.topictag"], "Error: missing.csv: no such file or folder"),
        (["train", "{tmp}/data.xml", "--out", "{tmp}/m.topictag"], "Error: {tmp}/data.xml: unknown format '.xml'"),
        (["train", "{tmp}/nocol.csv", "--out", "{tmp}/m.topictag"], "Error: {tmp}/nocol.csv: no text column 'text'; columns found: body, label"),
        (["train", "{tmp}/blank.csv", "--out", "{tmp}/m.topictag"], "Error: {tmp}/blank.csv: no non-empty text in column 'text'"),
        (["train", "{tmp}/one.csv", "--out", "{tmp}/m.topictag"], "Error: only one label in the data (trade); need at least two to train"),
        (["tag", "{tmp}/one.csv", "--model", "{tmp}/data.xml"], "Error: {tmp}/data.xml: not a valid topictag model"),
        (["tag", "{tmp}/one.csv", "--model", "{tmp}"], "Error: {tmp}: is a folder, not a model file"),
        (["explain", "{tmp}/missing.txt"], "Error: {tmp}/missing.txt: no such file"),
        (["explain", "notes.txt"], "Error: notes.txt: no such file"),
        (["train", "{tmp}/nowords.csv", "--out", "{tmp}/m.topictag"], "Error: no words in any text"),
        (["train", "{tmp}/nulllabel.jsonl", "--out", "{tmp}/m.topictag"], "Error: {tmp}/nulllabel.jsonl:1: labels must be strings; found null"),
        (["tag", "missing.txt"], "Error: missing.txt: no such file or folder"),
        (["tag", "{tmp}/*.nothing"], "Error: {tmp}/*.nothing: no files match"),
    ],
)
def test_errors_are_one_line_exit_1_and_leave_no_output(tmp_path, args, message):
    (tmp_path / "data.xml").write_text("<x/>")
    (tmp_path / "nocol.csv").write_text("body,label\nx,trade\n")
    (tmp_path / "blank.csv").write_text("text,label\n ,trade\n")
    (tmp_path / "one.csv").write_text("text,label\na,trade\nb,trade\n")
    (tmp_path / "nowords.csv").write_text("text,label\n" + "!,trade\n?,other\n" * 6)
    (tmp_path / "nulllabel.jsonl").write_text('{"text": "Tariffs", "labels": ["trade", null]}\n{"text": "x", "labels": ["other"]}\n')
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke(*args, "--output" if args[0] == "tag" else "--format", tmp_path / "out.jsonl" if args[0] == "tag" else "table")
    assert result.exit_code == 1
    stderr = result.stderr.strip()
    assert stderr.startswith(message.replace("{tmp}", str(tmp_path))) and "\n" not in stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.topictag").exists() and not (tmp_path / "out.jsonl").exists()


def test_usage_errors_exit_2(tmp_path):
    assert invoke("tag").exit_code == 2
    assert invoke("train", "x.csv").exit_code == 2
    assert invoke("tag", "x", "--format", "xml").exit_code == 2
    (tmp_path / "a.txt").write_text("Tariffs")
    result = invoke("segment", tmp_path / "a.txt", "--furniture-pattern", "(")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --furniture-pattern '(' is not a valid regular expression") and "Traceback" not in result.output


def test_summary_counts_in_words(model_file, articles):
    result = invoke("tag", articles / "steel.txt", "--model", model_file)
    assert "Tagged 1 input, 0 failed" in result.stderr


def test_info_takes_the_model_as_an_option_too(model_file):
    assert json.loads(invoke("info", "--model", model_file, "--format", "json").stdout)["labels"] == ["health", "security", "tech_policy", "trade"]


def test_evaluate_counts_labels_the_model_does_not_know_as_misses(model_file, tmp_path):
    data = tmp_path / "new.csv"
    data.write_text("text,label\nGlaciers retreat as summers warm,climate\nStriker scores twice,other\nTariffs on steel,trade\n")
    result = invoke("evaluate", data, "--model", model_file, "--format", "json")
    report = json.loads(result.stdout)
    assert "counted as misses: climate" in result.stderr
    assert report["labels"]["climate"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["labels"]["other"]["support"] == 1  # the climate text is not turned into "other"
    assert report["exact_match"] <= round(2 / 3, 4) and report["micro"]["recall"] <= 0.5


def test_evaluate_uses_the_same_top_as_tag_for_models_without_negatives(tmp_path):
    from topictag import TopicClassifier

    texts = ["Tariffs on steel", "Duties on cars", "Import quotas", "Export ban", "Trade deal", "Missile test", "Troops deployed", "Air strikes", "Navy drills", "Army offensive"]
    model = TopicClassifier(cv=2).fit(texts, ["trade"] * 5 + ["security"] * 5)
    path = tmp_path / "m.topictag"
    model.save(path)
    data = tmp_path / "d.csv"
    data.write_text("text,label\nsomething unrelated entirely,trade\n")
    report = json.loads(invoke("evaluate", data, "--model", path, "--format", "json").stdout)
    [tagged] = records(invoke("tag", "-", "--model", path, input="something unrelated entirely").stdout)
    row = report["confusion"]["matrix"][report["confusion"]["labels"].index("trade")]
    assert row[report["confusion"]["labels"].index(tagged["top"])] == 1


def test_installed_console_script_and_module_entry_point(tmp_path):
    script = Path(sys.executable).with_name("topictag")
    assert script.exists(), "the topictag console script is not installed"
    result = subprocess.run([str(script), "tag", str(ROOT / "examples" / "article.txt"), "--format", "jsonl"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["top"] == "trade"
    result = subprocess.run([sys.executable, "-m", "topictag", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "train" in result.stdout and "tag" in result.stdout


def test_help_and_version_do_not_import_sklearn_or_pandas():
    code = (
        "import sys; from typer.testing import CliRunner; from topictag.cli import app; "
        "r = CliRunner(); r.invoke(app, ['--help']); r.invoke(app, ['--version']); "
        "print(sorted(m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def _memory_cap(limit_bytes):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


@pytest.mark.skipif(sys.platform != "linux" or not Path("/dev/zero").exists(), reason="Linux devices and memory limits")
@pytest.mark.parametrize("args, stdin", [(["/dev/zero"], None), (["-"], "/dev/zero"), (["-", "--lines"], "yes")])
def test_endless_inputs_end_in_an_error_record_under_a_memory_cap(args, stdin):
    command = [sys.executable, "-m", "topictag", "tag", *args, "--max-bytes", str(8 << 20)]
    source = open("/dev/zero", "rb") if stdin == "/dev/zero" else subprocess.Popen(["yes", "Tariffs on steel"], stdout=subprocess.PIPE) if stdin else None
    try:
        handle = source.stdout if isinstance(source, subprocess.Popen) else source
        result = subprocess.run(command, stdin=handle, capture_output=True, text=True, timeout=120, preexec_fn=_memory_cap(3 << 30))
    finally:
        if isinstance(source, subprocess.Popen):
            source.kill()
            source.wait()
        elif source is not None:
            source.close()
    assert result.returncode == 0, result.stderr
    [record] = records(result.stdout)
    assert record["error"] in ("binary file, not text", "file too large (more than limit 8 MiB; raise --max-bytes)")


def test_training_on_a_label_folder_with_an_undecodable_file_is_one_line(tmp_path):
    for label in ("trade", "other"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(6):
            (tmp_path / "data" / label / f"{i}.txt").write_text(f"{label} text number {i}")
    (tmp_path / "data" / "trade" / "bad.txt").write_bytes(b"\xff\xfe" + b"abc")
    result = invoke("train", tmp_path / "data", "--out", tmp_path / "m.topictag")
    assert result.exit_code == 1 and "bad.txt: binary file, not text" in result.stderr and "Traceback" not in result.output


def test_tests_and_reading_do_not_depend_on_the_locale(tmp_path):
    (tmp_path / "é.txt").write_text("Tarifs douaniers sur l'acier: « hausse »", encoding="utf-8")
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONIOENCODING="")
    result = subprocess.run([sys.executable, "-m", "topictag", "tag", str(tmp_path), "--format", "jsonl"], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    [record] = records(result.stdout.decode("utf-8"))
    assert record["source"].endswith("é.txt")
