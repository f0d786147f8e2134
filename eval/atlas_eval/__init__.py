"""The evaluation harness: scores mapping methods against ATLAS's labelled case studies."""
