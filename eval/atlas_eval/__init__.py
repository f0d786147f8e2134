"""The evaluation harness: scores mapping methods against ATLAS's labelled case studies."""


def run_module(main) -> None:
    """``python -m atlas_eval.X``: run ``main`` and turn the project's errors into one line, as the CLI does."""
    from mapper.errors import MapperError

    try:
        raise SystemExit(main())
    except MapperError as exc:
        raise SystemExit(f"error: {exc}") from None
