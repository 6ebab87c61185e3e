"""Rules: the JSONL shape the rulers load as it is, compiling, matching, regex alignment and timeouts."""

import json
import time

import pytest
import spacy

from spacy_distill.errors import InputError
from spacy_distill.rules.matching import Match, RegexTimeout, RuleError, RuleMatcher
from spacy_distill.rules.rule import Rule, read_rules, rules_to_jsonl, write_rules

NLP = spacy.blank("en")
RULES = [
    Rule("brand-phrase", "BRAND", pattern="Levi's", source="induced", stats={"precision": 1.0, "matches": 3}),
    Rule("brand-tokens", "BRAND", pattern=[{"LOWER": "ann"}, {"LOWER": "taylor"}], source="llm"),
    Rule("code", "CODE", regex=r"[A-Z]{2}-\d+", source="llm"),
]
TEXT = "I bought levi's jeans, Ann Taylor shoes and item xAB-123 today."


def test_rule_lines_round_trip_and_load_in_the_rulers_as_they_are(tmp_path):
    write_rules(tmp_path / "rules.jsonl", RULES)
    assert read_rules(tmp_path / "rules.jsonl") == RULES
    lines = [json.loads(line) for line in rules_to_jsonl(RULES).splitlines()]
    assert lines[2]["pattern"] == [{"TEXT": {"REGEX": r"[A-Z]{2}-\d+"}}] and lines[2]["regex"] == r"[A-Z]{2}-\d+"
    assert all({"id", "label", "pattern", "source", "stats"} <= set(line) for line in lines)
    for factory in ("entity_ruler", "span_ruler"):
        nlp = spacy.blank("en")
        nlp.add_pipe(factory, config={"validate": True}).add_patterns(lines)
        doc = nlp(TEXT)
        spans = doc.ents if factory == "entity_ruler" else doc.spans["ruler"]
        assert ("Ann Taylor", "BRAND") in [(s.text, s.label_) for s in spans]


def test_plain_entity_ruler_patterns_read_with_stable_ids(root):
    rules = read_rules(root / "assets" / "fashion_brands" / "patterns.jsonl")
    assert len(rules) == 100 and {r.source for r in rules} == {"seed"}
    assert len({r.id for r in rules}) == 100
    assert [r.id for r in read_rules(root / "assets" / "fashion_brands" / "patterns.jsonl")] == [r.id for r in rules]


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"pattern": "x"}', '"label"'),
        ('{"label": "X"}', '"pattern"'),
        ('{"label": "X", "pattern": 3}', "phrase string"),
        ('{"label": "X", "pattern": "x", "source": "magic"}', '"source"'),
        ('{"label": "X", "regex": ""}', '"regex"'),
    ],
)
def test_bad_rule_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "rules.jsonl"
    path.write_text('{"label": "X", "pattern": "ok"}\n' + line + "\n", encoding="utf8")
    with pytest.raises(InputError, match=f"rules.jsonl:2: .*{message}"):
        read_rules(path)


def test_phrases_tokens_and_regexes_match_token_aligned_spans():
    matcher = RuleMatcher(NLP, RULES)
    doc = NLP(TEXT)
    found = [(doc.text[m.start_char : m.end_char], m.rule_id) for m in matcher(doc)]
    assert found == [("levi's", "brand-phrase"), ("Ann Taylor", "brand-tokens"), ("xAB-123", "code")]
    assert matcher.counts["regex_snapped"] == 1
    assert matcher.rule_matches("brand-tokens", doc) == [Match("brand-tokens", "BRAND", 23, 33)]
    assert RuleMatcher(NLP.vocab, RULES)(doc) == matcher(doc)


@pytest.mark.parametrize("align,expected", [("expand", ["xAB-123"]), ("contract", []), ("strict", [])])
def test_regex_matches_off_token_boundaries_snap_or_drop(align, expected):
    matcher = RuleMatcher(NLP, [RULES[2]], align=align)
    doc = NLP(TEXT)
    assert [doc.text[m.start_char : m.end_char] for m in matcher(doc)] == expected
    assert matcher.counts["regex_dropped"] == (0 if expected else 1)


@pytest.mark.parametrize(
    "rule,why",
    [
        (Rule("bad-key", "X", pattern=[{"LOWR": "x"}]), "invalid token pattern"),
        (Rule("bad-op", "X", pattern=[{"LOWER": "x", "OP": "%"}]), "invalid token pattern"),
        (Rule("unclosed", "X", regex="(ab"), "invalid regex"),
        (Rule("empty", "X", regex=r"\d*"), "matches the empty string"),
        (Rule("regex-only", "X", regex=r"\p{Lu}+"), "invalid regex"),
        (Rule("no-tokens", "X", pattern=" "), "no tokens"),
    ],
)
def test_invalid_rules_raise_rule_errors_naming_the_rule(rule, why):
    matcher = RuleMatcher(NLP, RULES[:1])
    with pytest.raises(RuleError, match=f"rule {rule.id}: .*{why}") as error:
        matcher.add(rule)
    assert error.value.rule_id == rule.id
    assert len(matcher) == 1 and matcher(NLP(TEXT))  # the matcher still works without it


def test_a_catastrophically_backtracking_regex_stops_within_the_time_bound():
    matcher = RuleMatcher(NLP, [Rule("backtracks", "X", regex=r"(x+x+)+y")], regex_timeout=0.5)
    doc = NLP("x" * 5000)
    start = time.perf_counter()
    with pytest.raises(RegexTimeout, match="rule backtracks: .*'xxxxxxxx"):
        matcher(doc)
    # unbounded, this regex runs for longer than the universe has existed; the slack is for a busy
    # machine (bench/ measures time, tests only that the bound holds at all)
    assert time.perf_counter() - start < 10
