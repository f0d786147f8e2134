"""Find techniques by ID or by words, without the model: TF-IDF over technique names and descriptions.

Serves ``atlas-mapper techniques search`` and the workbench's "add a technique" box.
"""

from __future__ import annotations

from mapper.encode.index import technique_document
from mapper.encode.tfidf import SparseText
from mapper.kb import KnowledgeBase


class TechniqueSearch:
    def __init__(self, kb: KnowledgeBase, platform: str | None = None):
        self.kb = kb
        self.ids = sorted(kb.on_platform(platform) if platform else kb.techniques)
        docs = [technique_document(kb, kb.techniques[t]) for t in self.ids]
        self.sparse = SparseText().fit(docs)
        self.docs = self.sparse.transform(docs)

    def by_words(self, words: str, limit: int = 10) -> list[tuple[str, float]]:
        """(technique ID, score) for techniques sharing words with ``words``, best first."""
        scores = (self.sparse.transform([words]) @ self.docs.T).toarray()[0]
        order = sorted(range(len(self.ids)), key=lambda i: (-scores[i], self.ids[i]))
        return [(self.ids[i], float(scores[i])) for i in order[:limit] if scores[i] > 0]

    def find(self, query: str, limit: int = 10) -> list[str]:
        """An ID (also a retired one, or a prefix such as 'AML.T0051') or words."""
        query = query.strip()
        if not query:
            return []
        resolved = self.kb.resolve_id(query.upper())
        if resolved in self.ids:
            return [resolved]
        if query.upper().startswith("AML."):
            return [t for t in self.ids if t.startswith(query.upper())][:limit]
        return [tid for tid, _ in self.by_words(query, limit)]
