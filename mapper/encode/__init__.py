"""Text to vectors, and the technique index: the sentence encoder from its verified weights (``encoders``), run
by ONNX Runtime from a graph exported here (``onnx_export``, ``onnx_bert``; int8 by default) or by the numpy
forward pass where ONNX Runtime is missing (``bert``); BLAS threads for small products (``threads``); TF-IDF with
plain-data state (``tfidf``), technique documents embedded and indexed (``index``), and finding techniques by ID
or words (``search``)."""
