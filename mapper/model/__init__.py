"""Features and the learned model, in the order a text meets them.

``features`` pools sentence scores per technique; ``head`` and ``base_scorers`` are what is learned first
(exemplars, prior, linear heads); ``rows`` and ``labels`` build training rows; ``logistic``,
``cooccurrence`` and ``stacker`` turn features into probabilities; ``threshold`` and ``operating_point``
choose the cut and bands; ``relevance`` decides whether a text is about AI at all; ``ranker`` composes
them. The classes are plain so that mapping never imports scikit-learn; ``estimators`` gives each one
scikit-learn's ``BaseEstimator``, and everything that trains uses those. ``writeups`` and ``reviews`` are
the labelled texts it learns from beside the case studies; ``card`` names a trained model.
"""
