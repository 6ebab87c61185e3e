"""`spacy_distill.Corrections.v1`: a training config reads corrections directly.

    [corpora.train]
    @readers = "spacy_distill.Corrections.v1"
    path = ${paths.train}
    format = "auto"

Corrections are read, aligned and merged as `spacy-distill import` does (see
`spacy_distill.corpus.corrections`), tokenised with the pipeline's own tokenizer,
once per process; .spacy files are read as they are. Bad input raises the
package's error as `import` reports it; if nothing catches it (`spacy train`),
the process ends with that message alone, not a traceback.
"""

import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import registry
from wasabi import msg

from ..errors import DistillError, print_error
from .corrections import Options, expand_paths, load_corrections


class CorrectionsCorpus:
    """Yields an Example per gold doc; reads the files on first use."""

    def __init__(self, paths: List[Path], fmt: str, options: Options, include_partial: bool, limit: int, columns: dict):
        self.paths = paths
        self.fmt = fmt
        self.options = options
        self.include_partial = include_partial
        self.limit = limit
        self.columns = columns
        self._docs: Optional[List[Doc]] = None
        self._vocab = None

    def docs(self, nlp: Language) -> List[Doc]:
        if self._docs is None or self._vocab is not nlp.vocab:
            self._vocab = nlp.vocab
            docs: List[Doc] = []
            corrections = [p for p in self.paths if p.suffix != ".spacy"]
            for path in self.paths:
                if path.suffix == ".spacy":
                    docs.extend(DocBin().from_disk(path).get_docs(nlp.vocab))
            if corrections:
                try:
                    loaded, stats = load_corrections(corrections, nlp, self.fmt, self.options, **self.columns)
                except DistillError:
                    short_uncaught_errors()
                    raise
                msg.info(
                    f"Corrections from {', '.join(map(str, corrections))}: {stats.docs} docs "
                    f"({stats.complete} complete, {stats.partial} partial); answers {dict(stats.answers)}, "
                    f"{stats.conflicts} conflicts, dropped {dict(stats.dropped) or 0}"
                )
                docs.extend(loaded)
            if not self.include_partial:
                docs = [d for d in docs if d.user_data.get("corrections", {}).get("status", "complete") == "complete"]
            self._docs = docs[: self.limit] if self.limit else docs
        return self._docs

    def __call__(self, nlp: Language) -> Iterator[Example]:
        for reference in self.docs(nlp):
            yield Example(nlp.make_doc(reference.text), reference)


def short_uncaught_errors() -> None:
    """Show an uncaught DistillError as its message alone (as the spacy-distill CLI does), e.g. in `spacy train`."""
    previous = sys.excepthook
    if getattr(previous, "spacy_distill", False):
        return

    def hook(kind, error, traceback):
        if issubclass(kind, DistillError):
            print_error(error)
        else:
            previous(kind, error, traceback)

    hook.spacy_distill = True
    sys.excepthook = hook


@registry.readers("spacy_distill.Corrections.v1")
def create_corrections_reader(
    path: Union[str, List[str]],
    format: str = "auto",
    policy: str = "latest",
    alignment: str = "strict",
    labels: Optional[List[str]] = None,
    span_key: Optional[str] = None,
    include_partial: bool = True,
    limit: int = 0,
    text_column: str = "text",
    label_column: Optional[str] = None,
    spans_column: Optional[str] = None,
    span_label: str = "SPAN",
) -> Callable[[Language], Iterable[Example]]:
    """Gold Examples from corrections files (Prodigy, Label Studio, doccano, Argilla, CoNLL, CSV/TSV, .spacy).

    path: a file, a folder, a comma-separated string or a list of them.
    format: auto (from suffix and content), prodigy, labelstudio, doccano, argilla, conll, csv or tsv.
    policy: how disagreeing annotators are resolved: latest, majority or fail.
    alignment: strict (report spans off token boundaries) or expand/contract (snap them).
    labels: if set, spans and categories with other labels are dropped (and counted).
    span_key: put spans in doc.spans[span_key] (spancat) instead of doc.ents.
    include_partial: also train on docs that are not complete annotations (rejections,
        binary answers); spancat treats every doc as complete, so set false for it.
    limit: use at most this many docs (0: all).
    text_column ... span_label: columns of CSV/TSV files.
    """
    options = Options(policy, alignment, set(labels) if labels else None, span_key)
    columns = dict(text_column=text_column, label_column=label_column, spans_column=spans_column, span_label=span_label)
    return CorrectionsCorpus(expand_paths(path), format, options, include_partial, limit, columns)
