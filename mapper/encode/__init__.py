"""Text to vectors, and the technique index: the numpy BERT encoder and its verified weights (``bert``,
``encoders``), TF-IDF with plain-data state (``tfidf``), technique documents embedded and indexed
(``index``), and finding techniques by ID or words (``search``)."""
