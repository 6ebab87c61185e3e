"""The rules component: the entity_ruler's entities on the sample patterns, regexes, span groups,
saving and loading, regex timeouts at run time, `rules_pipeline`, and a student config with rules
first that `spacy train` / `spacy package` / `spacy.load` of the installed package all take."""

import json
import subprocess
import sys

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import Span
from test_student_package import package_and_install

from spacy_distill.errors import InputError
from spacy_distill.rules.apply import rules_pipeline
from spacy_distill.rules.rule import Rule, read_rules, write_rules
from spacy_distill.task import Task

NER = Task("ner", labels=["FASHION_BRAND"])
TEXT = "Got Levi's jeans, an xAB-123 code and Ann Taylor shoes at Topshop."
REGEX = Rule("code", "CODE", regex=r"[A-Z]{2}-\d+", source="llm")


def sample_texts(root):
    lines = (root / "assets" / "fashion_brands" / "test.jsonl").read_text(encoding="utf8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_same_entities_as_the_entity_ruler_on_the_sample(root):
    patterns = root / "assets" / "fashion_brands" / "patterns.jsonl"
    ruler = spacy.blank("en")
    ruler.add_pipe("entity_ruler", config={"validate": True}).add_patterns(
        [json.loads(line) for line in patterns.read_text(encoding="utf8").splitlines() if line.strip()]
    )
    nlp, n_patterns = rules_pipeline(patterns, "en", NER)
    assert n_patterns == 100 and nlp.pipe_names == ["spacy_distill_rules"]
    texts = sample_texts(root)
    ours, theirs = [ents(d) for d in nlp.pipe(texts)], [ents(d) for d in ruler.pipe(texts)]
    assert ours == theirs and sum(map(len, ours)) > 20


def test_regex_and_phrase_rules_and_existing_entities():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("spacy_distill_rules")
    component.add_rules([REGEX, Rule("ann", "BRAND", pattern="ann taylor"), Rule("shop", "BRAND", pattern="topshop")])
    doc = nlp(TEXT)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("xAB-123", "CODE"),
        ("Ann Taylor", "BRAND"),
        ("Topshop", "BRAND"),
    ]
    assert component.counts["regex_snapped"] == 1 and component.labels == ("BRAND", "CODE")

    doc = nlp.make_doc(TEXT)
    doc.ents = [Span(doc, 9, 11, "OTHER")]  # "Ann Taylor"
    assert [e.label_ for e in component(doc).ents] == ["CODE", "OTHER", "BRAND"]
    component.overwrite = True
    doc.ents = [Span(doc, 9, 11, "OTHER"), Span(doc, 1, 2, "OTHER")]
    assert [(e.text, e.label_) for e in component(doc).ents][:3] == [
        ("Levi", "OTHER"),
        ("xAB-123", "CODE"),
        ("Ann Taylor", "BRAND"),
    ]


def test_phrases_match_any_case_or_the_exact_case_as_the_entity_ruler():
    phrases = [{"label": "BRAND", "pattern": "ann taylor"}, {"label": "BRAND", "pattern": "Topshop"}]
    ruler = spacy.blank("en")
    ruler.add_pipe("entity_ruler").add_patterns(phrases)
    rules = [Rule.from_dict(p) for p in phrases]
    exact = spacy.blank("en")
    exact.add_pipe("spacy_distill_rules", config={"phrase_matcher_attr": "ORTH"}).add_rules(rules)
    any_case = spacy.blank("en")
    any_case.add_pipe("spacy_distill_rules").add_rules(rules)
    assert ents(exact(TEXT)) == ents(ruler(TEXT)) == [(58, 65, "BRAND")]  # "Topshop" only
    assert [e.text for e in any_case(TEXT).ents] == ["Ann Taylor", "Topshop"]
    with pytest.raises(InputError, match="phrase_matcher_attr 'COLOUR'"):
        spacy.blank("en").add_pipe("spacy_distill_rules", config={"phrase_matcher_attr": "COLOUR"})


def test_span_groups_keep_overlaps_and_existing_spans():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("spacy_distill_rules", config={"spans_key": "sc"})
    component.add_rules([Rule("a", "BRAND", pattern="ann taylor"), Rule("b", "NAME", pattern="ann")])
    doc = nlp.make_doc(TEXT)
    doc.spans["sc"] = [Span(doc, 13, 14, "SHOP"), Span(doc, 9, 10, "NAME")]
    spans = [(s.text, s.label_) for s in component(doc).spans["sc"]]
    assert spans == [("Topshop", "SHOP"), ("Ann", "NAME"), ("Ann Taylor", "BRAND")]
    assert not doc.ents


def test_a_regex_timeout_at_run_time_skips_the_rule_for_that_doc():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("spacy_distill_rules", config={"regex_timeout": 0.2})
    component.add_rules([Rule("slow", "X", regex=r"(x+x+)+y"), Rule("ann", "BRAND", pattern="ann taylor")])
    docs = list(nlp.pipe(["x" * 3000 + " ann taylor", "ann taylor xxy"]))
    assert [ents(d) for d in docs] == [[(3001, 3011, "BRAND")], [(0, 10, "BRAND"), (11, 14, "X")]]
    assert component.counts["regex_timeouts"] == 1


def test_the_rules_are_saved_with_the_pipeline(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("spacy_distill_rules", config={"align": "contract"}).add_rules(
        [REGEX, Rule("shop", "B", pattern="topshop")]
    )
    nlp.to_disk(tmp_path / "nlp")
    assert (
        read_rules(tmp_path / "nlp" / "spacy_distill_rules" / "rules.jsonl")
        == nlp.get_pipe("spacy_distill_rules").rules
    )
    for loaded in (spacy.load(tmp_path / "nlp"), spacy.blank("en").from_config(nlp.config).from_bytes(nlp.to_bytes())):
        assert loaded.get_pipe("spacy_distill_rules").align == "contract"
        assert ents(loaded(TEXT)) == ents(nlp(TEXT)) == [(58, 65, "B")]


def test_rules_pipeline_takes_regex_lines_and_names_bad_lines(tmp_path):
    path = tmp_path / "rules.jsonl"
    write_rules(path, [REGEX, Rule("ann", "BRAND", pattern=[{"LOWER": "ann"}, {"LOWER": "taylor"}])])
    nlp, n = rules_pipeline(path, "en", Task("spancat", span_key="sc"))
    doc = nlp(TEXT)
    assert n == 2 and [s.text for s in doc.spans["sc"]] == ["xAB-123", "Ann Taylor"]
    path.write_text('{"label": "X", "pattern": "x"}\n{"label": "X", "pattern": [{"LOWR": "x"}]}\n', encoding="utf8")
    with pytest.raises(InputError, match="rules.jsonl:2: invalid pattern .*LOWR"):
        rules_pipeline(path, "en", NER)
    with pytest.raises(InputError, match="needs an entity or span task"):
        rules_pipeline(path, "en", Task("textcat"))


def test_the_factory_resolves_from_its_entry_point_in_a_fresh_process():
    code = "import spacy; nlp = spacy.blank('en'); nlp.add_pipe('spacy_distill_rules'); print(nlp.pipe_names)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "['spacy_distill_rules']", result.stderr[-2000:]


def test_student_with_rules_first_trains_packages_and_loads(root, tmp_path):
    data = root / "assets" / "fashion_brands"
    overrides = {
        "paths.train": str(data / "train.jsonl"),
        "paths.dev": str(data / "dev.jsonl"),
        "paths.rules": str(data / "patterns.jsonl"),
        "training.max_steps": 20,
        "training.eval_frequency": 10,
    }
    train(root / "configs" / "student_ner_rules.cfg", tmp_path / "training", overrides=overrides)
    nlp = spacy.load(tmp_path / "training" / "model-best")
    assert nlp.pipe_names == ["tok2vec", "rules", "ner"]
    assert len(nlp.get_pipe("rules").rules) == 100
    texts = sample_texts(root)[:40]
    expected = [ents(d) for d in nlp.pipe(texts)]
    ruler, _ = rules_pipeline(data / "patterns.jsonl", "en", NER)
    for with_rules, rules_only in zip(expected, [ents(d) for d in ruler.pipe(texts)]):
        assert set(rules_only) <= set(with_rules)  # the ner fills in around the rules, never over them

    site = package_and_install(tmp_path / "training" / "model-best", tmp_path, "fashion_rules")
    code = (
        f"import sys, json; sys.path.insert(0, {str(site)!r}); import spacy; nlp = spacy.load('en_fashion_rules'); "
        f"print(json.dumps([[[e.start_char, e.end_char, e.label_] for e in d.ents] for d in nlp.pipe({texts!r})]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [[tuple(e) for e in d] for d in json.loads(result.stdout)] == expected
